package caisse

// FactKind names the kind of Stripe object a fact describes.
type FactKind string

// The kinds of Stripe object whose facts caisse keeps.
const (
	KindSession       FactKind = "checkout_session"
	KindPaymentIntent FactKind = "payment_intent"
	KindCharge        FactKind = "charge"
	KindDispute       FactKind = "dispute"
	// KindFraudWarning is an early fraud warning (issfr_…): a card issuer
	// reported the charge as likely fraud, before any dispute.
	KindFraudWarning FactKind = "early_fraud_warning"
)

// Fact is what caisse knows about one Stripe object. Every field merges
// monotonically (see Merge): a flag only goes from false to true, an amount
// only grows, a dispute status only moves forward, and a string settles on one
// value whatever order it is seen in. Merging is therefore commutative,
// associative and idempotent, which is what makes event order and duplicate
// delivery irrelevant.
type Fact struct {
	// ID is the Stripe object id (cs_…, pi_…, ch_…, dp_…).
	ID   string   `json:"id"`
	Kind FactKind `json:"kind"`

	// OrderRef is an order id the object names itself: the session's
	// client_reference_id, or metadata.order_id on the session or payment intent.
	OrderRef string `json:"order_ref,omitempty"`
	// PaymentIntent and Charge link the object to others.
	PaymentIntent string `json:"payment_intent,omitempty"`
	Charge        string `json:"charge,omitempty"`
	// Livemode is true for a live-mode object. An order belongs to one mode,
	// and facts of the other never count for it.
	Livemode bool `json:"livemode,omitempty"`
	// Created is when Stripe created the object (Unix seconds), which never
	// changes: the earliest session of an order sets its terms.
	Created int64 `json:"created,omitempty"`

	// Checkout session facts.
	Completed      bool `json:"completed,omitempty"`       // checkout.session.completed seen
	SessionPaid    bool `json:"session_paid,omitempty"`    // completed with payment_status paid (or no_payment_required)
	AsyncSucceeded bool `json:"async_succeeded,omitempty"` // checkout.session.async_payment_succeeded
	AsyncFailed    bool `json:"async_failed,omitempty"`    // checkout.session.async_payment_failed
	Expired        bool `json:"expired,omitempty"`         // checkout.session.expired

	// Payment intent facts.
	Succeeded      bool   `json:"succeeded,omitempty"`
	AmountReceived int64  `json:"amount_received,omitempty"`
	PaymentError   string `json:"payment_error,omitempty"`
	// PaymentErrorAt is the creation time (Unix seconds) of the event that
	// carried PaymentError; the latest failure wins.
	PaymentErrorAt int64 `json:"payment_error_at,omitempty"`
	// PaymentErrorCode is the reason the bank gave with PaymentError:
	// Stripe's decline_code (insufficient_funds…), else its error code
	// (card_declined, expired_card…).
	PaymentErrorCode string   `json:"payment_error_code,omitempty"`
	FailedAttempts   []string `json:"failed_attempts,omitempty"` // event ids of failed attempts, sorted

	// Shared by sessions, payment intents, charges and disputes.
	Amount        int64  `json:"amount,omitempty"` // session amount_total, charge amount, dispute amount
	Currency      string `json:"currency,omitempty"`
	CustomerEmail string `json:"customer_email,omitempty"`
	// CustomerName and CustomerPhone are the customer's as the object
	// gives them (a session's customer_details, a charge's billing details).
	CustomerName  string `json:"customer_name,omitempty"`
	CustomerPhone string `json:"customer_phone,omitempty"`
	// StripeCustomer is the Stripe customer (cus_…) the object names: with
	// a secret key, its email is the customer's address when no event
	// brings one.
	StripeCustomer string `json:"stripe_customer,omitempty"`
	// Shipping is where the object says the order goes: a session's
	// collected shipping details, a payment intent's or a charge's
	// shipping.
	Shipping *Shipping `json:"shipping,omitempty"`
	// AmountShipping, AmountTax and AmountDiscount are a session's
	// total_details.
	AmountShipping int64  `json:"amount_shipping,omitempty"`
	AmountTax      int64  `json:"amount_tax,omitempty"`
	AmountDiscount int64  `json:"amount_discount,omitempty"`
	Items          []Item `json:"items,omitempty"`
	// UnknownItems holds metadata that named items caisse could not parse.
	UnknownItems string `json:"unknown_items,omitempty"`

	// Charge facts.
	AmountRefunded int64 `json:"amount_refunded,omitempty"`

	// Dispute facts.
	DisputeStatus string `json:"dispute_status,omitempty"`
	DisputeReason string `json:"dispute_reason,omitempty"`
	// EvidenceDueBy is when the dispute's evidence is due (Unix seconds).
	EvidenceDueBy int64 `json:"evidence_due_by,omitempty"`

	// Locale is the language the customer chose at checkout (a session's).
	Locale string `json:"locale,omitempty"`

	// FraudType is what an early fraud warning says of its charge, as the
	// card issuer reported it (card_never_received, made_with_stolen_card…).
	FraudType string `json:"fraud_type,omitempty"`
}

// Merge folds other into f. Both must describe the same object.
func (f *Fact) Merge(other Fact) {
	f.ID = settle(f.ID, other.ID)
	f.Kind = FactKind(settle(string(f.Kind), string(other.Kind)))
	f.OrderRef = settle(f.OrderRef, other.OrderRef)
	f.PaymentIntent = settle(f.PaymentIntent, other.PaymentIntent)
	f.Charge = settle(f.Charge, other.Charge)
	f.Livemode = f.Livemode || other.Livemode
	if f.Created == 0 || (other.Created != 0 && other.Created < f.Created) {
		f.Created = other.Created
	}

	f.Completed = f.Completed || other.Completed
	f.SessionPaid = f.SessionPaid || other.SessionPaid
	f.AsyncSucceeded = f.AsyncSucceeded || other.AsyncSucceeded
	f.AsyncFailed = f.AsyncFailed || other.AsyncFailed
	f.Expired = f.Expired || other.Expired

	f.Succeeded = f.Succeeded || other.Succeeded
	f.AmountReceived = max(f.AmountReceived, other.AmountReceived)
	if other.PaymentErrorAt > f.PaymentErrorAt ||
		(other.PaymentErrorAt == f.PaymentErrorAt && (other.PaymentError > f.PaymentError ||
			(other.PaymentError == f.PaymentError && other.PaymentErrorCode > f.PaymentErrorCode))) {
		f.PaymentError, f.PaymentErrorAt, f.PaymentErrorCode = other.PaymentError, other.PaymentErrorAt, other.PaymentErrorCode
	}
	f.FailedAttempts = unionSorted(f.FailedAttempts, other.FailedAttempts)

	f.Amount = max(f.Amount, other.Amount)
	f.Currency = settle(f.Currency, other.Currency)
	f.CustomerEmail = settle(f.CustomerEmail, other.CustomerEmail)
	f.CustomerName = settle(f.CustomerName, other.CustomerName)
	f.CustomerPhone = settle(f.CustomerPhone, other.CustomerPhone)
	f.StripeCustomer = settle(f.StripeCustomer, other.StripeCustomer)
	f.Shipping = settleShipping(f.Shipping, other.Shipping)
	f.AmountShipping = max(f.AmountShipping, other.AmountShipping)
	f.AmountTax = max(f.AmountTax, other.AmountTax)
	f.AmountDiscount = max(f.AmountDiscount, other.AmountDiscount)
	if len(f.Items) == 0 || (len(other.Items) > 0 && FormatItems(other.Items) > FormatItems(f.Items)) {
		f.Items = other.Items
	}
	f.UnknownItems = settle(f.UnknownItems, other.UnknownItems)

	f.AmountRefunded = max(f.AmountRefunded, other.AmountRefunded)
	f.DisputeReason = settle(f.DisputeReason, other.DisputeReason)
	f.EvidenceDueBy = max(f.EvidenceDueBy, other.EvidenceDueBy)
	f.Locale = settle(f.Locale, other.Locale)
	f.FraudType = settle(f.FraudType, other.FraudType)
	if DisputeRank(other.DisputeStatus) > DisputeRank(f.DisputeStatus) ||
		(DisputeRank(other.DisputeStatus) == DisputeRank(f.DisputeStatus) && other.DisputeStatus > f.DisputeStatus) {
		f.DisputeStatus = other.DisputeStatus
	}
}

// settle picks one of two values whatever order they come in: a non-empty value
// beats an empty one, and between two non-empty values the greater wins. Stripe
// never changes these fields on an object, so a disagreement only comes from
// bad input, and settling keeps merging commutative even then.
func settle(a, b string) string {
	if a == "" || b > a {
		return b
	}
	return a
}

func unionSorted(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i >= len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// DisputeRank orders dispute statuses along Stripe's life of a dispute, so a
// late charge.dispute.created never reopens a closed dispute. Unknown statuses
// rank lowest but above none.
func DisputeRank(status string) int {
	switch status {
	case "":
		return 0
	case "warning_needs_response", "needs_response":
		return 2
	case "warning_under_review", "under_review":
		return 3
	case "warning_closed":
		return 4
	case "won":
		return 5
	case "lost":
		return 6
	default:
		return 1
	}
}

// DisputeOpen reports whether a dispute with this status is still open.
func DisputeOpen(status string) bool {
	switch status {
	case "", "won", "lost", "warning_closed":
		return false
	}
	return true
}

// EventFacts is what one Stripe event says.
type EventFacts struct {
	// Facts about the objects the event touches, at most one per object id.
	Facts []Fact
	// Ignored is true for events caisse stores but does not apply: a type it
	// does not act on, or an event of a connected account.
	Ignored bool
	// Reason says why an event is ignored, for the person reading it.
	Reason string
	// Balance are the balance transactions the event's objects name: with
	// their figures when the object carries them expanded, else by id only
	// (caisse asks Stripe for the figures later).
	Balance []BalanceTransaction
	// Payout is the payout a payout.* event is about.
	Payout *Payout
	// RefundsOf are the charges with refunds the event does not list (API
	// versions from 2022-11-15 leave a charge's refunds out): caisse asks
	// Stripe for their balance transactions.
	RefundsOf []string
}

// ObjectIDs lists the ids of the objects the facts describe.
func (ef EventFacts) ObjectIDs() []string {
	ids := make([]string, 0, len(ef.Facts))
	for _, f := range ef.Facts {
		ids = append(ids, f.ID)
	}
	return ids
}
