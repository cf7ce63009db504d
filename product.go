package caisse

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
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
	SanityID string `json:"sanity_id"`
	// ArtistName is who made the work, for the artist's email.
	ArtistName string `json:"artist_name"`
	// ArtistEmail are the addresses told of each sale of the work (and of
	// its cancellation): never the buyer's identity.
	ArtistEmail Addresses `json:"artist_email"`
	// ArtistShare is the part of the sale due to the artist, shown to them
	// in money; 0 when not set.
	ArtistShare Percent `json:"artist_share"`
	// ArtistLocale is the language of the artist's emails, fr or en; ""
	// for the shop's (CAISSE_LOCALE).
	ArtistLocale string    `json:"artist_locale"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
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
	// ArtistName, ArtistEmail, ArtistShare and ArtistLocale name the
	// work's artist, told of each sale (see Product).
	ArtistName   *string    `json:"artist_name"`
	ArtistEmail  *Addresses `json:"artist_email"`
	ArtistShare  *Percent   `json:"artist_share"`
	ArtistLocale *string    `json:"artist_locale"`
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
	case u.ArtistName != nil && (len(*u.ArtistName) > 200 || strings.ContainsFunc(*u.ArtistName, unicode.IsControl)):
		return Errorf(EINVALID, "artist_name of %s must be at most 200 characters, with no control characters", id)
	case u.ArtistShare != nil && (*u.ArtistShare < 0 || *u.ArtistShare > 100*PercentUnit):
		return Errorf(EINVALID, "artist_share of %s must be a percentage from 0 to 100, such as 60", id)
	case u.ArtistLocale != nil && *u.ArtistLocale != "" && Language(*u.ArtistLocale) == "":
		return Errorf(EINVALID, "artist_locale of %s must be fr or en (or empty for the shop's language, CAISSE_LOCALE)", id)
	}
	if u.ArtistEmail != nil {
		if err := u.ArtistEmail.Validate(); err != nil {
			return Errorf(EINVALID, "artist_email of %s: %s", id, ErrorMessage(err))
		}
	}
	if u.ArtistLocale != nil {
		l := Language(*u.ArtistLocale)
		u.ArtistLocale = &l
	}
	return nil
}

// ApplyTo sets on p the fields the update names, keeping the others, and
// fills p's derived fields. StockWas is not checked: see CheckStockWas.
func (u ProductUpdate) ApplyTo(p *Product) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.Name, u.Name)
	set(&p.Currency, u.Currency)
	set(&p.SanityID, u.SanityID)
	set(&p.ArtistName, u.ArtistName)
	set(&p.ArtistLocale, u.ArtistLocale)
	if u.Price != nil {
		p.Price = *u.Price
	}
	if u.Stock != nil {
		p.Stock = *u.Stock
	}
	if u.ArtistEmail != nil {
		p.ArtistEmail = slices.Clone(*u.ArtistEmail)
	}
	if u.ArtistShare != nil {
		p.ArtistShare = *u.ArtistShare
	}
	p.Fill()
}

// CheckStockWas refuses (ECONFLICT) an update of product id's stock made
// from a reading (StockWas) that sales or returns have moved since: stock
// is the product's stock now.
func (u ProductUpdate) CheckStockWas(id string, stock int64) error {
	if u.StockWas != nil && u.Stock != nil && stock != *u.StockWas {
		return Errorf(ECONFLICT, "the stock of %s changed since it was read as %d: it is %d now (sales or returns moved it); "+
			"read it again and set it", id, *u.StockWas, stock)
	}
	return nil
}

// MaxArtistEmails bounds the addresses told of one work's sales.
const MaxArtistEmails = 10

// Addresses are email addresses, such as an artist's. In JSON they are a
// list of strings; a single string with addresses separated by commas,
// semicolons or spaces is read too, as a spreadsheet cell holds them.
type Addresses []string

// ParseAddresses reads addresses separated by commas, semicolons or
// spaces, leaving out repeats.
func ParseAddresses(s string) Addresses {
	out := Addresses{}
	for _, a := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) }) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// UnmarshalJSON reads a list of addresses, or one string of them.
func (a *Addresses) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = ParseAddresses(one)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return Errorf(EINVALID, "addresses must be a list of strings, such as [\"artist@example.com\"], or one string of addresses separated by commas")
	}
	*a = ParseAddresses(strings.Join(list, ","))
	return nil
}

// MarshalJSON writes the addresses as a list, [] when there are none.
func (a Addresses) MarshalJSON() ([]byte, error) {
	if a == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(a))
}

// String writes the addresses separated by ", ".
func (a Addresses) String() string { return strings.Join(a, ", ") }

// Validate checks that each is an email address alone (no name), and that
// there are at most MaxArtistEmails.
func (a Addresses) Validate() error {
	if len(a) > MaxArtistEmails {
		return Errorf(EINVALID, "at most %d addresses", MaxArtistEmails)
	}
	for _, addr := range a {
		if !ValidEmail(addr) {
			return Errorf(EINVALID, "%q is not an email address: write addresses alone, separated by commas, such as artist@example.com", quoteShort(addr))
		}
	}
	return nil
}

// ValidEmail reports whether s is an email address alone, as caisse sends
// to one: local@domain, at most 254 characters, no spaces, angle brackets
// or control characters.
func ValidEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && len(s) <= 254 && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '<' || r == '>' || r == ',' || r == ';' || r == '"'
	}) && strings.Count(s, "@") == 1 && strings.Contains(s[at+1:], ".")
}

// PercentUnit is one percent as a Percent counts it: hundredths of a
// percent, so 62.5 % is 6250.
const PercentUnit Percent = 100

// Percent is a percentage in hundredths of a percent (60 % is 6000). In
// JSON it is the percentage as a number (60, 62.5); a string such as
// "60 %" or "62,5" is read too.
type Percent int64

// ParsePercent reads a percentage as people write it: "60", "60 %",
// "62.5", "62,5".
func ParsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	t = strings.Replace(t, ",", ".", 1)
	whole, frac, _ := strings.Cut(t, ".")
	bad := Errorf(EINVALID, "%q is not a percentage: write it such as 60 or 62.5", quoteShort(s))
	if whole == "" || len(frac) > 2 || len(whole) > 3 || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, bad
	}
	frac += strings.Repeat("0", 2-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, bad
	}
	return Percent(n), nil
}

// String writes the percentage as a number, "60" or "62.5".
func (p Percent) String() string {
	s := strconv.FormatInt(int64(p)/100, 10)
	if frac := int64(p) % 100; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%02d", frac), "0")
	}
	return s
}

// MarshalJSON writes the percentage as a JSON number.
func (p Percent) MarshalJSON() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalJSON reads a number or a string.
func (p *Percent) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) != nil {
		s = string(b)
	}
	v, err := ParsePercent(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Of returns this share of an amount, rounded to the nearest smallest unit
// (half away from zero), without overflowing.
func (p Percent) Of(amount int64) int64 {
	if p <= 0 || amount <= 0 {
		return 0
	}
	v := new(big.Int).Mul(big.NewInt(amount), big.NewInt(int64(p)))
	v.Add(v, big.NewInt(5000))
	return v.Quo(v, big.NewInt(10000)).Int64()
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

// ProductImporter is a ProductService that imports a catalogue as one
// change: catalogue.Import uses it when the store has it.
type ProductImporter interface {
	// FindProductsByID returns the products of these ids that exist.
	FindProductsByID(ctx context.Context, ids []string) (map[string]*Product, error)
	// PutProducts does what PutProduct does for each update, in one
	// transaction: every update is written, or none (the first refusal is
	// the error).
	PutProducts(ctx context.Context, updates []ProductPut) ([]*Product, error)
}

// ProductPut is one product's update in PutProducts.
type ProductPut struct {
	ID     string
	Update ProductUpdate
}

// OrderService reads orders.
type OrderService interface {
	FindOrder(ctx context.Context, id string) (*Order, error)
	FindOrders(ctx context.Context, filter OrderFilter) ([]*Order, bool, error)
	// ShipOrder records that an order left with a carrier and tracking
	// number (Rules.ShipOrder), and returns it.
	ShipOrder(ctx context.Context, id string, req ShipRequest) (*Order, error)
}
