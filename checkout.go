package caisse

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reasons a checkout is refused, as the error code clients see.
const (
	ReasonNotAvailable    = "not_available"    // the units are not in stock (409)
	ReasonUnknownProduct  = "unknown_product"  // an item names no product of the shop (400)
	ReasonInvalidItems    = "invalid_items"    // no items, a blank product or a quantity below 1 (400)
	ReasonInvalidURL      = "invalid_url"      // success_url or cancel_url missing or not http(s) (400)
	ReasonInvalidEmail    = "invalid_email"    // customer_email is not an email address (400)
	ReasonMixedCurrencies = "mixed_currencies" // the products are priced in different currencies (400)
	ReasonNoPrice         = "no_price"         // a product has no price or currency to charge (400)
	ReasonCheckoutOff     = "checkout_disabled"
	ReasonRateLimited     = "rate_limited" // the client opened too many checkouts lately (429)
)

// Reasons a client's hold or a cancel is refused.
const (
	ReasonTooManyHeld     = "too_many_held"     // the client's open checkouts already hold what it may hold at once (409)
	ReasonInvalidClientID = "invalid_client_id" // client_id without the shop's checkout key, or not an id (400)
	ReasonAlreadyPaid     = "already_paid"      // a cancelled checkout was paid, or its payment is under way (409)
)

// MaxClientIDLength bounds the client_id a shop's server names a buyer with.
const MaxClientIDLength = 200

// MaxCheckoutItems bounds the lines of one checkout.
const MaxCheckoutItems = MaxOrderProducts

// CheckoutLimits are the shop's bounds on one checkout.
type CheckoutLimits struct {
	// MaxUnits is the most units one checkout may hold, all products
	// together, and the most one client's open checkouts hold at once.
	MaxUnits int64
	// Origins, when not empty, are the shop's web origins (https://shop.example):
	// the customer is sent back only to a page on one of them.
	Origins []string
}

// TooManyHeld is the refusal of a checkout that would take a client past
// what it may hold at once: held units, at most limit.
func TooManyHeld(held, limit int64) error {
	return &Error{Code: ECONFLICT, Reason: ReasonTooManyHeld,
		Message: "your open checkouts already hold " + strconv.FormatInt(held, 10) + " units, and at most " +
			strconv.FormatInt(limit, 10) + " can be held at once: pay or cancel one of them first, or wait until it expires"}
}

// CheckoutRequest is a shop front end asking to sell items: POST /api/checkout.
type CheckoutRequest struct {
	Items         []Item `json:"items"`
	CustomerEmail string `json:"customer_email"`
	SuccessURL    string `json:"success_url"`
	CancelURL     string `json:"cancel_url"`
	// ClientID names the buyer when the shop's own server asks for the
	// checkout with its key (CAISSE_CHECKOUT_KEY); refused otherwise.
	ClientID string `json:"client_id,omitempty"`

	// Client is who the checkout's units are counted against, set by the
	// edge, never read from the body: "addr:" and the client's address,
	// or "buyer:" and the shop's ClientID. Empty counts the checkout
	// against no one. Only a digest of it is stored.
	Client string `json:"-"`
}

// Validate checks the request's shape against the shop's limits; whether
// the products exist and are in stock is the store's to say.
func (r *CheckoutRequest) Validate(limits CheckoutLimits) error {
	if len(r.Items) == 0 {
		return &Error{Code: EINVALID, Reason: ReasonInvalidItems, Message: "items is empty: name at least one {product_id, quantity}"}
	}
	if len(r.Items) > MaxCheckoutItems {
		return &Error{Code: EINVALID, Reason: ReasonInvalidItems, Message: "a checkout has at most " + strconv.Itoa(MaxCheckoutItems) + " items"}
	}
	var units int64
	for i, it := range r.Items {
		if strings.TrimSpace(it.ProductID) == "" {
			return &Error{Code: EINVALID, Reason: ReasonInvalidItems, Message: "items[" + strconv.Itoa(i) + "].product_id is empty"}
		}
		if !validProductID(it.ProductID) {
			return &Error{Code: EINVALID, Reason: ReasonInvalidItems,
				Message: "items[" + strconv.Itoa(i) + "].product_id is not a product id"}
		}
		if it.Quantity < 1 {
			return &Error{Code: EINVALID, Reason: ReasonInvalidItems, Products: []string{it.ProductID},
				Message: "items[" + strconv.Itoa(i) + "].quantity must be 1 or more"}
		}
		// Each quantity is checked before it is added, so the sum cannot
		// overflow whatever a client sends.
		if limits.MaxUnits > 0 && (it.Quantity > limits.MaxUnits || units+it.Quantity > limits.MaxUnits) {
			return &Error{Code: EINVALID, Reason: ReasonInvalidItems, Products: []string{it.ProductID},
				Message: "a checkout holds at most " + strconv.FormatInt(limits.MaxUnits, 10) + " units"}
		}
		units += it.Quantity
	}
	for _, u := range []struct{ name, value string }{{"success_url", r.SuccessURL}, {"cancel_url", r.CancelURL}} {
		parsed, err := url.Parse(u.value)
		if u.value == "" || err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" {
			return &Error{Code: EINVALID, Reason: ReasonInvalidURL,
				Message: u.name + " must be an absolute http(s) URL where Stripe sends the customer back"}
		}
		if len(limits.Origins) > 0 && !slices.Contains(limits.Origins, "*") &&
			!slices.ContainsFunc(limits.Origins, func(o string) bool { return strings.EqualFold(o, parsed.Scheme+"://"+parsed.Host) }) {
			return &Error{Code: EINVALID, Reason: ReasonInvalidURL,
				Message: u.name + " must be a page of the shop's own site"}
		}
	}
	if id := r.ClientID; id != "" && (len(id) > MaxClientIDLength || strings.ContainsFunc(id, func(c rune) bool { return c < ' ' || c == 0x7f })) {
		return &Error{Code: EINVALID, Reason: ReasonInvalidClientID,
			Message: "client_id must be the shop's id of the buyer: at most " + strconv.Itoa(MaxClientIDLength) + " characters, no control characters"}
	}
	if e := r.CustomerEmail; e != "" && (len(e) > 254 || !strings.Contains(e, "@") || strings.ContainsAny(e, " \t\r\n<>")) {
		return &Error{Code: EINVALID, Reason: ReasonInvalidEmail, Message: "customer_email is not an email address"}
	}
	return nil
}

// Merged returns the items with each product once, quantities added, in
// product order.
func (r *CheckoutRequest) Merged() []Item {
	byID := map[string]int64{}
	var ids []string
	for _, it := range r.Items {
		if _, ok := byID[it.ProductID]; !ok {
			ids = append(ids, it.ProductID)
		}
		byID[it.ProductID] += it.Quantity
	}
	slices.Sort(ids)
	out := make([]Item, len(ids))
	for i, id := range ids {
		out[i] = Item{ProductID: id, Quantity: byID[id]}
	}
	return out
}

// Checkout is an open checkout: the order holding the units and the Stripe
// Checkout Session the customer pays on.
type Checkout struct {
	OrderID           string    `json:"order_id"`
	CheckoutSessionID string    `json:"checkout_session_id"`
	URL               string    `json:"url"`
	ExpiresAt         time.Time `json:"expires_at"`
}

// CheckoutCancel is the answer to a buyer leaving a checkout: its units are
// released and its Stripe session expired.
type CheckoutCancel struct {
	OrderID string `json:"order_id"`
	// Cancelled is true once the checkout is closed (also when it already
	// was: a cancel page may be loaded twice).
	Cancelled bool `json:"cancelled"`
}

// CheckoutService opens checkouts.
type CheckoutService interface {
	// Checkout reserves the items' units and opens a Stripe Checkout
	// Session for them; the units are released if Stripe fails. A client's
	// earlier open checkout holding any of the same products is replaced:
	// its session is expired and its units released.
	Checkout(ctx context.Context, r CheckoutRequest) (*Checkout, error)
	// CancelCheckout closes the open checkout of an order caisse's
	// checkout made, still unpaid: it expires the Stripe session, then
	// releases the units at once.
	CancelCheckout(ctx context.Context, orderID string) (*CheckoutCancel, error)
}
