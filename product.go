package caisse

import (
	"context"
	"strings"
	"time"
)

// Product is something the shop sells, with its stock. Available units are
// those on hand and not reserved by an open checkout.
type Product struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Price       int64     `json:"price"` // in the currency's smallest unit
	Currency    string    `json:"currency"`
	Stock       int64     `json:"stock"`
	Reserved    int64     `json:"reserved"`
	Available   int64     `json:"available"`
	IsAvailable bool      `json:"is_available"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Fill computes the derived fields from stock and reserved.
func (p *Product) Fill() {
	p.Available = p.Stock - p.Reserved
	p.IsAvailable = p.Available > 0
}

// ProductUpdate is what the owner sets on a product.
type ProductUpdate struct {
	Name     string `json:"name"`
	Price    int64  `json:"price"`
	Currency string `json:"currency"`
	Stock    int64  `json:"stock"`
}

// Validate checks an update before it is stored.
func (u *ProductUpdate) Validate(id string) error {
	u.Currency = strings.ToLower(strings.TrimSpace(u.Currency))
	switch {
	case !validProductID(id):
		return Errorf(EINVALID, "product id %q must be 1 to 200 characters with no spaces, commas, colons or control characters", quoteShort(id))
	case u.Price < 0 || u.Price > MaxAmount:
		return Errorf(EINVALID, "price of %s must be from 0 to %d, in the currency's smallest unit (cents)", id, int64(MaxAmount))
	case u.Stock < 0:
		return Errorf(EINVALID, "stock of %s must not be negative", id)
	case u.Currency != "" && len(u.Currency) != 3:
		return Errorf(EINVALID, "currency of %s must be a three-letter ISO code such as eur", id)
	}
	return nil
}

// ProductService stores products.
type ProductService interface {
	FindProduct(ctx context.Context, id string) (*Product, error)
	FindProducts(ctx context.Context, page Page) ([]*Product, bool, error)
	// PutProduct creates or updates a product. Setting stock below the units
	// reserved by open checkouts is refused.
	PutProduct(ctx context.Context, id string, u ProductUpdate) (*Product, error)
}

// OrderService reads orders.
type OrderService interface {
	FindOrder(ctx context.Context, id string) (*Order, error)
	FindOrders(ctx context.Context, filter OrderFilter) ([]*Order, bool, error)
}
