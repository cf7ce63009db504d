package caisse

import (
	"context"
	"strings"
	"time"
	"unicode"
)

// Product is something the shop sells, with its stock. Available units are
// those on hand and not reserved by an open checkout.
type Product struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Price       int64  `json:"price"` // in the currency's smallest unit
	Currency    string `json:"currency"`
	Stock       int64  `json:"stock"`
	Reserved    int64  `json:"reserved"`
	Available   int64  `json:"available"`
	IsAvailable bool   `json:"is_available"`
	// SanityID is the id of the product's document in the Sanity CMS, whose
	// availability field caisse keeps up to date; the product's id when empty.
	SanityID  string    `json:"sanity_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Fill computes the derived fields from stock and reserved.
func (p *Product) Fill() {
	p.Available = p.Stock - p.Reserved
	p.IsAvailable = p.Available > 0
}

// ProductUpdate is what the owner sets on a product. A field left nil keeps
// its value on an existing product (a new one starts with "" or 0): in
// particular, an update without Stock never changes the units on hand, so
// units already sold stay sold.
type ProductUpdate struct {
	Name     *string `json:"name"`
	Price    *int64  `json:"price"`
	Currency *string `json:"currency"`
	// Stock is the units on hand, not counting those already sold.
	Stock *int64 `json:"stock"`
	// SanityID is the product's document in the Sanity CMS ("" for its id).
	SanityID *string `json:"sanity_id"`
	// StockWas, when given with Stock, is the stock the writer last read:
	// the update is refused (ECONFLICT) if sales or returns moved it since,
	// so a stock typed from an old reading never undoes them.
	StockWas *int64 `json:"stock_was,omitempty"`
}

// NewProductUpdate returns an update that sets every field.
func NewProductUpdate(name string, price int64, currency string, stock int64) ProductUpdate {
	return ProductUpdate{Name: &name, Price: &price, Currency: &currency, Stock: &stock}
}

// Validate checks an update before it is stored.
func (u *ProductUpdate) Validate(id string) error {
	if u.Currency != nil {
		c := strings.ToLower(strings.TrimSpace(*u.Currency))
		u.Currency = &c
	}
	switch {
	case !validProductID(id):
		return Errorf(EINVALID, "product id %q must be 1 to 200 characters with no spaces, commas, colons or control characters", quoteShort(id))
	case u.Name != nil && (len(*u.Name) > 500 || strings.ContainsFunc(*u.Name, unicode.IsControl)):
		return Errorf(EINVALID, "name of %s must be at most 500 characters, with no control characters", id)
	case u.Price != nil && (*u.Price < 0 || *u.Price > MaxAmount):
		return Errorf(EINVALID, "price of %s must be from 0 to %d, in the currency's smallest unit (cents)", id, int64(MaxAmount))
	case u.Stock != nil && (*u.Stock < 0 || *u.Stock > MaxAmount):
		return Errorf(EINVALID, "stock of %s must be a whole number from 0 to %d", id, int64(MaxAmount))
	case u.Currency != nil && *u.Currency != "" && (len(*u.Currency) != 3 || strings.Trim(*u.Currency, "abcdefghijklmnopqrstuvwxyz") != ""):
		return Errorf(EINVALID, "currency of %s must be a three-letter ISO code such as eur", id)
	case u.SanityID != nil && *u.SanityID != "" && (len(*u.SanityID) > 200 || strings.ContainsFunc(*u.SanityID, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	})):
		return Errorf(EINVALID, "sanity_id of %s must be a Sanity document id: up to 200 characters, no spaces", id)
	}
	return nil
}

// ProductService stores products.
type ProductService interface {
	FindProduct(ctx context.Context, id string) (*Product, error)
	FindProducts(ctx context.Context, page Page) ([]*Product, bool, error)
	// PutProduct creates or updates a product, setting the fields the update
	// names. Setting stock below the units reserved by open checkouts is
	// refused.
	PutProduct(ctx context.Context, id string, u ProductUpdate) (*Product, error)
}

// OrderService reads orders.
type OrderService interface {
	FindOrder(ctx context.Context, id string) (*Order, error)
	FindOrders(ctx context.Context, filter OrderFilter) ([]*Order, bool, error)
}
