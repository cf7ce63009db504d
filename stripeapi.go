package caisse

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// StripeAPI is the part of Stripe's API caisse calls: to open checkouts,
// refund payments, catch up on events and check its webhook endpoint. The
// stripe package's Client implements it against Stripe.
type StripeAPI interface {
	// Livemode reports whether the key is a live one (sk_live_, rk_live_).
	Livemode() bool
	// CreateCheckoutSession creates a one-off payment checkout session for
	// an order, idempotently: the same order gets the same session.
	CreateCheckoutSession(ctx context.Context, p CheckoutSessionParams) (CheckoutSession, error)
	// ExpireCheckoutSession expires an open checkout session (cs_…), so
	// nobody can pay it any more. Stripe refuses (a StripeError) a session
	// that is not open: paid, being paid, or expired already.
	ExpireCheckoutSession(ctx context.Context, id string) error
	// Refund refunds the whole of a payment intent and returns the
	// refund's id.
	Refund(ctx context.Context, p RefundParams) (string, error)
	// ListEvents calls fn with each event created since then that Stripe
	// still keeps, oldest first, with its body as Stripe's API gives it.
	ListEvents(ctx context.Context, since time.Time, fn func(id string, created int64, raw []byte) error) error
	// WebhookEndpoints lists the account's webhook endpoints.
	WebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error)
	// CustomerEmail returns the email of a Stripe customer (cus_…), "" when
	// it has none or was deleted.
	CustomerEmail(ctx context.Context, id string) (string, error)
	// SetShipment gives a payment intent the address its order went to
	// with the carrier and tracking number: Stripe shows them, and uses
	// them as evidence if the buyer disputes "not received".
	SetShipment(ctx context.Context, paymentIntent string, to Shipping, s Shipment) error
	// BalanceTransaction reads one balance transaction (txn_…): Stripe's
	// fee and the net of a charge, refund or dispute.
	BalanceTransaction(ctx context.Context, id string) (BalanceTransaction, error)
	// PayoutTransactions calls fn with each page of the balance
	// transactions an automatic payout (po_…) carried, each with the
	// charge its money belongs to, paging with starting_after until Stripe
	// says there are no more.
	PayoutTransactions(ctx context.Context, payout string, fn func([]BalanceTransaction) error) error
	// ChargeRefunds returns the balance transactions of a charge's refunds.
	ChargeRefunds(ctx context.Context, charge string) ([]BalanceTransaction, error)
}

// StripeError is Stripe's answer to a request it refused. Every StripeAPI
// method returns it, wrapped, when Stripe answers with an error, so a caller can
// find it with errors.As and pass Stripe's code on. A request that never got
// an answer (network, timeout, cancelled) fails with an ordinary error.
type StripeError struct {
	// Status is the HTTP status Stripe answered.
	Status int
	// Code is Stripe's error code (e.g. resource_missing), often empty.
	Code string
	// Type is Stripe's error type: api_error, card_error,
	// idempotency_error, invalid_request_error.
	Type string
	// Message is Stripe's explanation.
	Message string
	// Param names the request parameter at fault, if any.
	Param string
	// RequestID is Stripe's id of the request, for its support.
	RequestID string
	// RetryAfter is how long Stripe asked to wait before trying again (a
	// 429's Retry-After), zero when it did not say.
	RetryAfter time.Duration
}

// Error says what Stripe answered; it is the message caisse logs.
func (e *StripeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stripe answered %d %s", e.Status, e.Type)
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Param != "" {
		fmt.Fprintf(&b, " on %s", e.Param)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [%s]", e.RequestID)
	}
	return b.String()
}

// CheckoutSessionParams is what caisse sends to create a checkout session for an
// order whose units it has already reserved.
type CheckoutSessionParams struct {
	// OrderID is caisse's order id: the session's client_reference_id and
	// metadata.order_id, and the payment intent's metadata.order_id. It also
	// makes the idempotency key, so a retried creation returns the same
	// session.
	OrderID string
	// CustomerEmail pre-fills the customer's email; optional.
	CustomerEmail string
	// SuccessURL and CancelURL are where Stripe sends the customer back.
	SuccessURL, CancelURL string
	// ExpiresAt is when the session, and so the reservation, expires;
	// Stripe accepts 30 minutes to 24 hours after creation. Zero leaves
	// Stripe's default of 24 hours.
	ExpiresAt time.Time
	// Items is the order's items as metadata.items, e.g. "art_1:1,print_2:3",
	// on the session and on the payment intent.
	Items string
	// Lines are the lines the customer sees and pays.
	Lines []CheckoutLine
	// Shipping is what else the checkout asks the customer for.
	Shipping CheckoutShipping
}

// CheckoutShipping is what caisse's checkout asks for besides the payment,
// from the configuration: a shipping address in these countries, these
// shipping rates to choose from, a phone number.
type CheckoutShipping struct {
	// Countries are the ISO 3166-1 alpha-2 codes a shipping address may be
	// in (CAISSE_SHIPPING_COUNTRIES); none asks for no address.
	Countries []string
	// Rates are Stripe shipping rates (shr_…) the customer chooses from
	// (CAISSE_SHIPPING_RATES).
	Rates []string
	// Phone asks for a phone number (CAISSE_COLLECT_PHONE).
	Phone bool
}

// CheckoutLine is one line of a checkout session, with its price given inline.
type CheckoutLine struct {
	// Name is the product's name as the customer sees it.
	Name string
	// UnitAmount is the price of one unit in the currency's smallest unit.
	UnitAmount int64
	// Currency is a three-letter ISO code, lower case.
	Currency string
	// Quantity is the number of units.
	Quantity int64
}

// CheckoutSession is a created checkout session.
type CheckoutSession struct {
	// ID is the session's id (cs_…).
	ID string
	// URL is the page to send the customer to.
	URL string
	// ExpiresAt is when Stripe expires the session.
	ExpiresAt time.Time
}

// RefundParams is a refund of a payment: the whole of it, or Amount.
type RefundParams struct {
	// PaymentIntent is the payment to refund (pi_…).
	PaymentIntent string
	// Amount is the part to refund, in the payment's currency's smallest
	// unit; 0 refunds what is left of the payment.
	Amount int64
	// OrderID is caisse's order, recorded as the refund's metadata.order_id.
	OrderID string
	// Reason is Stripe's reason: duplicate, fraudulent or
	// requested_by_customer; empty for none. caisse's own reasons (such as
	// oversold) go in Metadata: Stripe refuses any other value here.
	Reason string
	// Metadata is added to the refund's metadata; its order_id is always
	// OrderID.
	Metadata map[string]string
	// IdempotencyKey makes the refund happen at most once, however often it
	// is asked for: the stripe package has the keys caisse uses. Required.
	IdempotencyKey string
}

// WebhookEndpoint is a webhook endpoint of the Stripe account.
type WebhookEndpoint struct {
	// ID is the endpoint's id (we_…).
	ID string
	// URL is where Stripe delivers events.
	URL string
	// Status is enabled or disabled.
	Status string
	// APIVersion is the API version of the events sent to it; empty for the
	// account's default.
	APIVersion string
	// EnabledEvents are the event types it receives; "*" for all.
	EnabledEvents []string
}
