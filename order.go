package caisse

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// OrderStatus is derived from an order's facts; see DeriveStatus.
type OrderStatus string

// Order statuses, in DeriveStatus's order of precedence.
const (
	StatusDisputed          OrderStatus = "disputed"
	StatusDisputeLost       OrderStatus = "dispute_lost"
	StatusRefunded          OrderStatus = "refunded"
	StatusPartiallyRefunded OrderStatus = "partially_refunded"
	StatusPaid              OrderStatus = "paid"
	StatusPaymentFailed     OrderStatus = "payment_failed"
	StatusExpired           OrderStatus = "expired"
	StatusAwaitingPayment   OrderStatus = "awaiting_payment"
	StatusPending           OrderStatus = "pending"
)

// OrderStatuses lists every status, for validation and documentation.
var OrderStatuses = []OrderStatus{
	StatusDisputed, StatusDisputeLost, StatusRefunded, StatusPartiallyRefunded, StatusPaid,
	StatusPaymentFailed, StatusExpired, StatusAwaitingPayment, StatusPending,
}

// Item is a product and a quantity on an order.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// Line is one product of an order as it was sold: its name and unit price
// are kept from the moment the order got it (from caisse's checkout, else
// from the catalogue), so what the shop says of a past sale never changes
// with the catalogue.
type Line struct {
	ProductID string `json:"product_id"`
	// Name is the product's name when it was sold; empty when the product
	// is not in the catalogue.
	Name     string `json:"name"`
	Quantity int64  `json:"quantity"`
	// UnitAmount is the price of one unit when it was sold, in the order's
	// currency's smallest unit; 0 when unknown (a product not in the
	// catalogue, or priced in another currency than the order).
	UnitAmount int64 `json:"unit_amount"`
}

// Item returns the line's product and quantity.
func (l Line) Item() Item { return Item{ProductID: l.ProductID, Quantity: l.Quantity} }

// ItemsOf returns the products and quantities of lines.
func ItemsOf(lines []Line) []Item {
	items := make([]Item, len(lines))
	for i, l := range lines {
		items[i] = l.Item()
	}
	return items
}

// Customer is who bought: as the checkout (or, failing it, the payment)
// names them. Personal data: it goes only where the shop needs it.
type Customer struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// Address is a postal address as Stripe gives it.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
	State      string `json:"state"`
	// Country is an ISO 3166-1 alpha-2 code (FR, BE…).
	Country string `json:"country"`
}

// Shipping is where an order goes: to whom, their phone, the address.
// Personal data: it goes only where the shop needs it (the order, its
// pages, the buyer's own emails).
type Shipping struct {
	Name    string  `json:"name"`
	Phone   string  `json:"phone"`
	Address Address `json:"address"`
}

// Lines are the address label: the name, the street lines, the postal
// code with the city (and state), the country; empty lines left out.
func (s *Shipping) Lines() []string {
	if s == nil {
		return nil
	}
	a := s.Address
	city := strings.TrimSpace(a.PostalCode + " " + a.City)
	if a.State != "" {
		city = strings.TrimPrefix(city+", "+a.State, ", ")
	}
	var lines []string
	for _, l := range []string{s.Name, a.Line1, a.Line2, city, a.Country} {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// IsZero reports whether s says nothing.
func (s *Shipping) IsZero() bool { return s == nil || *s == Shipping{} }

// key orders shippings, so that of two the facts give, one is chosen
// whatever order they come in.
func (s *Shipping) key() string {
	if s == nil {
		return ""
	}
	a := s.Address
	return strings.Join([]string{a.Country, a.PostalCode, a.City, a.Line1, a.Line2, a.State, s.Name, s.Phone}, "\x00")
}

// settleShipping returns, of two shippings, the one facts settle on: a
// shipping rather than none, else the greater by key. A shipping is chosen
// whole, never mixed field by field with another.
func settleShipping(a, b *Shipping) *Shipping {
	if b.IsZero() {
		return a
	}
	if a.IsZero() || b.key() > a.key() {
		return b
	}
	return a
}

// Dispute is the dispute shown on an order.
type Dispute struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Amount int64  `json:"amount"`
	// Reason is the bank's reason (fraudulent, product_not_received, …).
	Reason string `json:"reason,omitempty"`
	// EvidenceDueBy is when the evidence must reach Stripe (Unix seconds).
	EvidenceDueBy int64 `json:"evidence_due_by,omitempty"`
}

// FraudWarning is the early fraud warning shown on an order: a card issuer
// reported its payment as likely fraud.
type FraudWarning struct {
	// ID is Stripe's early fraud warning (issfr_…).
	ID string `json:"id"`
	// FraudType is the issuer's word for it (made_with_stolen_card, …).
	FraudType string `json:"fraud_type"`
	// Charge is the charge it is about (ch_…).
	Charge string `json:"charge"`
	// At is when Stripe created the warning.
	At time.Time `json:"at"`
}

// TimelineEntry records one change of an order's status.
type TimelineEntry struct {
	At      time.Time   `json:"at"`
	EventID string      `json:"event_id"`
	Type    string      `json:"type"`
	From    OrderStatus `json:"from"`
	To      OrderStatus `json:"to"`
	// Stock is what the change did to the products' units (empty when it
	// moved none).
	Stock []StockMove `json:"stock,omitempty"`
	// Note says what happened when the status did not change: a declined
	// payment attempt and the bank's answer.
	Note string `json:"note,omitempty"`
}

// Order is a shop order as caisse derives it from Stripe's facts.
type Order struct {
	ID             string      `json:"id"`
	Status         OrderStatus `json:"status"`
	Items          []Line      `json:"items"`
	Currency       string      `json:"currency"`
	AmountTotal    int64       `json:"amount_total"`
	AmountPaid     int64       `json:"amount_paid"`
	AmountRefunded int64       `json:"amount_refunded"`
	// CustomerEmail is the customer's address as known now: the session's,
	// else the payment's (Customer.Email is the same).
	CustomerEmail string   `json:"customer_email"`
	Customer      Customer `json:"customer"`
	// Shipping is where the order goes, when the checkout asked (null
	// otherwise).
	Shipping *Shipping `json:"shipping"`
	// AmountShipping, AmountTax and AmountDiscount are the parts of the
	// total the checkout says were shipping, tax and discount (minor
	// units of Currency).
	AmountShipping int64 `json:"amount_shipping"`
	AmountTax      int64 `json:"amount_tax"`
	AmountDiscount int64 `json:"amount_discount"`
	// Locale is the language the customer chose at checkout (the session's
	// locale, such as fr or en), empty when unknown.
	Locale          string `json:"locale"`
	CheckoutSession string `json:"checkout_session"`
	PaymentIntent   string `json:"payment_intent"`
	PaymentError    string `json:"payment_error"`
	// FailedAttempts counts the payment attempts the bank declined; the
	// order goes on (inside Checkout the customer can try again).
	FailedAttempts  int      `json:"failed_attempts"`
	Dispute         *Dispute `json:"dispute"`
	Oversold        bool     `json:"oversold"`
	UnknownProducts []string `json:"unknown_products"`
	// ItemsError says why the metadata items could not be read, if they could not.
	ItemsError string `json:"items_error"`
	// OversoldRefund is the id of the refund caisse asked Stripe for when the
	// order was oversold (CAISSE_OVERSOLD_POLICY=refund).
	OversoldRefund string `json:"oversold_refund"`
	// AmountDue is what a payment must bring, in Currency, to pay the order.
	AmountDue int64 `json:"amount_due"`
	// Livemode is the order's mode; events of the other mode never count for it.
	Livemode bool `json:"livemode"`
	// PaymentMismatch is set for good once a payment was taken for the order
	// that does not pay it: short of the amount due, or in another currency.
	PaymentMismatch bool `json:"payment_mismatch"`
	// MismatchedPayments are those payments (sessions or payment intents).
	MismatchedPayments []string `json:"mismatched_payments"`
	// MismatchRefunds are the refunds caisse asked Stripe for, for those
	// payments (CAISSE_MISMATCH_POLICY=refund).
	MismatchRefunds []string `json:"mismatch_refunds"`
	// FraudWarning is the early fraud warning on the order's payment, if a
	// card issuer sent one.
	FraudWarning *FraudWarning `json:"fraud_warning"`
	// Shipment is how the order left, once the owner shipped it (null
	// before).
	Shipment *Shipment `json:"shipment"`
	// FraudRefund is the refund caisse asked Stripe for on that warning
	// (CAISSE_FRAUD_POLICY=refund).
	FraudRefund string `json:"fraud_refund"`
	// RefundsRequested are the refunds the owner asked caisse for, oldest
	// first: requested at once, refunded when Stripe's events confirm them.
	RefundsRequested []OwnerRefund `json:"refunds_requested"`
	// Books are Stripe's fee, the net and the payout of the order's
	// money (fee, net, fee_currency, exchange_rate, payout,
	// balance_transactions, fee_pending): read with one order, null in
	// lists.
	Books
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	Timeline  []TimelineEntry `json:"timeline"`
}

// Order flags, which the status filter of a list also takes: the orders
// flagged so, whatever their status.
const (
	FlagOversold        OrderStatus = "oversold"
	FlagPaymentMismatch OrderStatus = "payment_mismatch"
	// FlagFailedAttempts keeps the orders with at least one declined
	// payment attempt, whatever their status (a first declined card leaves
	// an order pending).
	FlagFailedAttempts OrderStatus = "failed_attempts"
	// FlagToShip keeps the orders to ship, oldest first: paid or partly
	// refunded, not shipped, not oversold, not mismatched, not disputed.
	FlagToShip OrderStatus = "to_ship"
)

// OrderFlags lists the flags a status filter takes.
var OrderFlags = []OrderStatus{FlagOversold, FlagPaymentMismatch, FlagFailedAttempts, FlagToShip}

// OrderFilter selects orders in a list.
type OrderFilter struct {
	// Status is an order status, or a flag (FlagOversold, FlagPaymentMismatch).
	Status OrderStatus
	// Query keeps the orders whose id, checkout session, payment intent or
	// customer email (any case) is exactly this.
	Query string
	Page
}

// Normalize checks the status and the page.
func (f *OrderFilter) Normalize() error {
	if f.Status != "" && !slices.Contains(OrderStatuses, f.Status) && !slices.Contains(OrderFlags, f.Status) {
		valid := make([]string, 0, len(OrderStatuses))
		for _, s := range OrderStatuses {
			valid = append(valid, string(s))
		}
		return Errorf(EINVALID, "unknown order status %q: use one of %s, or the flags %s, %s, %s and %s",
			quoteShort(string(f.Status)), strings.Join(valid, ", "), FlagOversold, FlagPaymentMismatch, FlagFailedAttempts, FlagToShip)
	}
	return f.Page.Normalize()
}

// Terms are what an order must be paid to be paid: the amount due, in one
// currency, in one mode (test or live). caisse's own checkout fixes them when
// it opens; otherwise the session that first defined the order's items does.
type Terms struct {
	// AmountDue is the least a payment must bring, in Currency's smallest unit.
	AmountDue int64
	// Currency is the order's currency: a payment in another counts for nothing.
	Currency string
	// Livemode is the order's mode: facts of the other mode never count.
	Livemode bool
}

// Mismatch is a payment that was taken for an order but does not pay it: it
// falls short of the amount due or is in another currency.
type Mismatch struct {
	// ID is the session or payment intent that was paid (cs_… or pi_…).
	ID string
	// PaymentIntent is the payment to refund, when known.
	PaymentIntent string
	// Amount and Currency are what was paid.
	Amount   int64
	Currency string
}

// MismatchOf is what a payment that does not pay its order brought and who
// made it, from the order's facts about it (the payment intent, and the
// session that names it): the most a session or the succeeded payment intent
// says was paid, in its currency, and the session's address before the
// payment intent's. Amount 0 and email "" when the facts do not say. The
// apology for a refunded mismatch goes to that address: whoever made the
// payment may not be the order's customer.
func MismatchOf(facts []Fact, paymentIntent string) (m Mismatch, email string) {
	m = Mismatch{ID: paymentIntent, PaymentIntent: paymentIntent}
	for _, f := range facts {
		if f.ID != paymentIntent && f.PaymentIntent != paymentIntent {
			continue
		}
		if f.Kind == KindSession || (f.Kind == KindPaymentIntent && f.Succeeded) {
			if a := max(f.Amount, f.AmountReceived); a > m.Amount {
				m.Amount, m.Currency = a, f.Currency
			}
		}
		// The session's address first, then the payment intent's.
		if f.CustomerEmail != "" && (email == "" || f.Kind == KindSession) {
			email = f.CustomerEmail
		}
	}
	return m, email
}

// Summary is everything about an order that follows from its facts alone.
type Summary struct {
	Status         OrderStatus
	Items          []Item
	Currency       string
	AmountTotal    int64
	AmountDue      int64
	AmountPaid     int64
	AmountRefunded int64
	Livemode       bool
	CustomerEmail  string
	CustomerName   string
	CustomerPhone  string
	// StripeCustomer is the Stripe customer the payment names, if any.
	StripeCustomer string
	// Shipping is where the order goes: the session's, else the payment's.
	Shipping *Shipping
	// AmountShipping, AmountTax and AmountDiscount are the session's.
	AmountShipping, AmountTax, AmountDiscount int64
	Locale                                    string
	// FailedAttempts counts the declined attempts of the payments that
	// count for the order.
	FailedAttempts  int
	CheckoutSession string
	PaymentIntent   string
	PaymentError    string
	ItemsError      string
	Dispute         *Dispute
	// Mismatches are the payments taken that do not pay the order, sorted by id.
	Mismatches []Mismatch
	// FraudWarning is the early fraud warning on a payment that counts for
	// the order (the smallest id if several).
	FraudWarning *FraudWarning
	// Foreign are the payment intents known not to pay the order, sorted:
	// one a session that does not count for it names (a stranger's
	// Payment Link session typed with its id), or one in its currency for
	// less than it is due. What happens to them is not the order's
	// customer's business. A payment in another currency that no session
	// names yet is not among them: Checkout charges a buyer's currency.
	Foreign []string
}

// Summarize derives an order's summary from the facts linked to it. It is a
// pure function of the set of facts: their order does not matter. fixed, when
// not nil, are the terms caisse's checkout set; otherwise the facts set them.
//
// Only money that covers the order pays it. Facts of the other mode are left
// out. A session counts for the order when it is in the order's currency and
// for at least the amount due; a paid session that does not is a mismatch,
// and so are its payment intent, charges and disputes. A payment intent that
// no session names counts when it is in the order's currency for at least the
// amount due; one in another currency counts for nothing (Checkout charged it
// in the buyer's currency while its session, not yet known, says the shop's).
func Summarize(facts []Fact, fixed *Terms) Summary {
	var s Summary
	live := false
	if fixed != nil {
		live = fixed.Livemode
	} else {
		for _, f := range facts {
			live = live || f.Livemode
		}
	}
	inMode := make([]Fact, 0, len(facts))
	for _, f := range facts {
		if f.Livemode == live {
			inMode = append(inMode, f)
		}
	}
	var terms Terms
	if fixed != nil {
		terms = *fixed
	} else {
		terms = definingTerms(inMode)
	}
	terms.Livemode = live
	s.Livemode, s.Currency, s.AmountDue = live, terms.Currency, terms.AmountDue

	// Which sessions and payment intents count for the order.
	countedSession := map[string]bool{}
	sessionOf := map[string]Fact{} // payment intent id → a session that names it
	for _, f := range inMode {
		if f.Kind != KindSession {
			continue
		}
		countedSession[f.ID] = f.Currency == terms.Currency && f.Amount >= terms.AmountDue
		if f.PaymentIntent != "" {
			if prev, ok := sessionOf[f.PaymentIntent]; !ok || f.ID < prev.ID {
				sessionOf[f.PaymentIntent] = f
			}
		}
	}
	countedIntent := map[string]bool{}
	for pi, owner := range sessionOf {
		countedIntent[pi] = countedSession[owner.ID]
	}
	intents := map[string]Fact{}
	for _, f := range inMode {
		if f.Kind != KindPaymentIntent {
			continue
		}
		intents[f.ID] = f
		if _, owned := sessionOf[f.ID]; owned {
			continue
		}
		received := f.Amount
		if f.Succeeded {
			received = f.AmountReceived
		}
		countedIntent[f.ID] = f.Currency == terms.Currency && received >= terms.AmountDue
	}
	chargeIntent := map[string]string{}
	for _, f := range inMode {
		if f.Kind == KindCharge {
			chargeIntent[f.ID] = f.PaymentIntent
		}
	}
	// excluded reports whether a charge or dispute is about a payment that
	// does not count for the order; one whose payment caisse does not know
	// yet counts.
	excluded := func(pi string) bool {
		counted, known := countedIntent[pi]
		return known && !counted
	}
	// paymentAmount is what a payment intent's payment brought, in the
	// order's currency.
	paymentAmount := func(pi string) int64 {
		if owner, ok := sessionOf[pi]; ok {
			return owner.Amount
		}
		return intents[pi].AmountReceived
	}

	var sessionPaid, asyncFailed, expired, awaiting, piSucceeded bool
	// Who the customer is: as the session says, else as the payment does.
	var session, other customerFacts
	var paid, intentTotal int64
	var errAt int64
	mismatched := map[string]Mismatch{}
	for _, f := range inMode {
		switch f.Kind {
		case KindSession:
			isPaid := f.SessionPaid || f.AsyncSucceeded
			if !countedSession[f.ID] {
				if isPaid {
					mismatched[f.ID] = Mismatch{ID: f.ID, PaymentIntent: f.PaymentIntent, Amount: f.Amount, Currency: f.Currency}
				}
				continue
			}
			sessionPaid = sessionPaid || isPaid
			if isPaid {
				paid = max(paid, f.Amount)
			}
			asyncFailed = asyncFailed || f.AsyncFailed
			expired = expired || f.Expired
			awaiting = awaiting || (f.Completed && !f.SessionPaid)
			s.CheckoutSession = minNonEmpty(s.CheckoutSession, f.ID)
			s.AmountTotal = max(s.AmountTotal, f.Amount)
			s.PaymentIntent = minNonEmpty(s.PaymentIntent, f.PaymentIntent)
		case KindPaymentIntent:
			if !countedIntent[f.ID] {
				_, owned := sessionOf[f.ID]
				// A short payment in the order's currency, which no session
				// explains, is a mismatch; one a short session names is
				// that session's mismatch.
				if f.Succeeded && !owned && f.Currency == terms.Currency {
					mismatched[f.ID] = Mismatch{ID: f.ID, PaymentIntent: f.ID, Amount: f.AmountReceived, Currency: f.Currency}
				}
				continue
			}
			piSucceeded = piSucceeded || f.Succeeded
			if f.Succeeded {
				if f.Currency == terms.Currency {
					paid = max(paid, f.AmountReceived)
				} else {
					paid = max(paid, paymentAmount(f.ID))
				}
			}
			s.PaymentIntent = minNonEmpty(s.PaymentIntent, f.ID)
			s.FailedAttempts += len(f.FailedAttempts)
			if f.PaymentErrorAt > errAt || (f.PaymentErrorAt == errAt && f.PaymentError > s.PaymentError) {
				s.PaymentError, errAt = f.PaymentError, f.PaymentErrorAt
			}
			if f.Currency == terms.Currency {
				intentTotal = max(intentTotal, f.Amount)
			}
		case KindCharge:
			if excluded(f.PaymentIntent) {
				continue
			}
			refunded := f.AmountRefunded
			if f.Currency != "" && f.Currency != terms.Currency {
				// A charge in the buyer's currency: its refunded share of
				// the payment, in the order's.
				refunded = shareOf(paymentAmount(f.PaymentIntent), f.AmountRefunded, f.Amount)
			}
			s.AmountRefunded = addSaturating(s.AmountRefunded, refunded)
		case KindDispute:
			if excluded(cmp.Or(f.PaymentIntent, chargeIntent[f.Charge])) {
				continue
			}
			d := &Dispute{ID: f.ID, Status: f.DisputeStatus, Amount: f.Amount, Reason: f.DisputeReason, EvidenceDueBy: f.EvidenceDueBy}
			if s.Dispute == nil || disputeShownBefore(d, s.Dispute) {
				s.Dispute = d
			}
		case KindFraudWarning:
			// A warning about a payment that does not count for the order
			// is not the order's; one whose payment caisse does not know
			// yet is linked to no order until it is.
			if excluded(cmp.Or(f.PaymentIntent, chargeIntent[f.Charge])) {
				continue
			}
			if s.FraudWarning == nil || f.ID < s.FraudWarning.ID {
				s.FraudWarning = &FraudWarning{ID: f.ID, FraudType: f.FraudType, Charge: f.Charge, At: time.Unix(f.Created, 0).UTC()}
			}
			continue
		}
		if f.Kind == KindSession {
			session.settle(f)
		} else {
			other.settle(f)
		}
		s.Locale = settle(s.Locale, f.Locale)
		if fixed == nil {
			s.ItemsError = settle(s.ItemsError, f.UnknownItems)
		}
	}
	if fixed == nil {
		s.Items = definingItems(inMode, countedSession, countedIntent)
	}
	s.CustomerEmail = cmp.Or(session.email, other.email)
	s.CustomerName = cmp.Or(session.name, other.name)
	s.CustomerPhone = cmp.Or(session.phone, other.phone)
	s.StripeCustomer = cmp.Or(session.stripe, other.stripe)
	s.Shipping = session.shipping
	if s.Shipping.IsZero() {
		s.Shipping = other.shipping
	}
	s.AmountShipping, s.AmountTax, s.AmountDiscount = session.amountShipping, session.amountTax, session.amountDiscount
	// An order without a session amount (a payment intent made outside
	// Checkout) shows its intents' amount; deciding this after the loop keeps
	// the result independent of the order of the facts.
	if s.AmountTotal == 0 {
		s.AmountTotal = intentTotal
	}
	if s.AmountTotal == 0 {
		// Nothing that counts says a total yet (caisse's checkout is open,
		// and only payments that do not pay the order came): the order
		// shows what it costs.
		s.AmountTotal = s.AmountDue
	}
	s.AmountPaid = paid
	for pi, counted := range countedIntent {
		if counted {
			continue
		}
		if _, owned := sessionOf[pi]; owned || (intents[pi].Currency == terms.Currency && terms.Currency != "") {
			s.Foreign = append(s.Foreign, pi)
		}
	}
	slices.Sort(s.Foreign)
	open, lost := false, false
	if s.Dispute != nil {
		for _, f := range inMode {
			if f.Kind == KindDispute && !excluded(cmp.Or(f.PaymentIntent, chargeIntent[f.Charge])) {
				open = open || DisputeOpen(f.DisputeStatus)
				lost = lost || f.DisputeStatus == "lost"
			}
		}
	}
	for _, m := range mismatched {
		s.Mismatches = append(s.Mismatches, m)
	}
	slices.SortFunc(s.Mismatches, func(a, b Mismatch) int { return strings.Compare(a.ID, b.ID) })
	s.Status = DeriveStatus(StatusFacts{
		DisputeOpen:     open,
		DisputeLost:     lost,
		AmountPaid:      s.AmountPaid,
		AmountRefunded:  s.AmountRefunded,
		Paid:            sessionPaid || piSucceeded,
		AsyncFailed:     asyncFailed,
		Expired:         expired,
		AwaitingPayment: awaiting,
	})
	return s
}

// customerFacts gathers what facts say of the customer, each field
// settling on one value whatever order the facts come in.
type customerFacts struct {
	email, name, phone, stripe                string
	shipping                                  *Shipping
	amountShipping, amountTax, amountDiscount int64
}

func (c *customerFacts) settle(f Fact) {
	c.email = settle(c.email, f.CustomerEmail)
	c.name = settle(c.name, f.CustomerName)
	c.phone = settle(c.phone, f.CustomerPhone)
	c.stripe = settle(c.stripe, f.StripeCustomer)
	c.shipping = settleShipping(c.shipping, f.Shipping)
	c.amountShipping = max(c.amountShipping, f.AmountShipping)
	c.amountTax = max(c.amountTax, f.AmountTax)
	c.amountDiscount = max(c.amountDiscount, f.AmountDiscount)
}

// definingTerms returns the terms the facts set for an order that caisse's
// checkout did not open: those of the session that first defined its items
// (the earliest created with items, else the earliest), else of its earliest
// payment intent. Objects' creation times never change, so the choice does not
// depend on the order the facts arrive in; a session made later with the
// order's id (a Payment Link where the buyer typed it) cannot lower the price.
func definingTerms(facts []Fact) Terms {
	var best *Fact
	rank := func(f *Fact) int {
		switch {
		case f.Kind == KindSession && len(f.Items) > 0:
			return 0
		case f.Kind == KindSession:
			return 1
		case f.Kind == KindPaymentIntent:
			return 2
		}
		return 3
	}
	for i := range facts {
		f := &facts[i]
		if rank(f) == 3 {
			continue
		}
		if best == nil || rank(f) < rank(best) ||
			(rank(f) == rank(best) && (f.Created < best.Created || (f.Created == best.Created && f.ID < best.ID))) {
			best = f
		}
	}
	if best == nil {
		return Terms{}
	}
	return Terms{AmountDue: best.Amount, Currency: best.Currency}
}

// definingItems returns the items of an order that caisse's checkout did not
// open: those of the session that defines its terms, else the greatest list
// among the payment intents that count.
func definingItems(facts []Fact, countedSession, countedIntent map[string]bool) []Item {
	var best *Fact
	for i := range facts {
		f := &facts[i]
		if f.Kind != KindSession || len(f.Items) == 0 || !countedSession[f.ID] {
			continue
		}
		if best == nil || f.Created < best.Created || (f.Created == best.Created && f.ID < best.ID) {
			best = f
		}
	}
	if best != nil {
		return best.Items
	}
	var items []Item
	for _, f := range facts {
		if f.Kind == KindPaymentIntent && countedIntent[f.ID] && len(f.Items) > 0 &&
			(len(items) == 0 || FormatItems(f.Items) > FormatItems(items)) {
			items = f.Items
		}
	}
	return items
}

// addSaturating adds two non-negative amounts, stopping at the largest int64
// instead of wrapping around to a negative sum.
func addSaturating(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// shareOf returns part/whole of amount, rounded down and at most amount,
// without overflowing: the refunded share of a payment whose charge is in
// another currency than the order.
func shareOf(amount, part, whole int64) int64 {
	if whole <= 0 || part <= 0 || amount <= 0 {
		return 0
	}
	if part >= whole {
		return amount
	}
	v := new(big.Int).Mul(big.NewInt(amount), big.NewInt(part))
	return v.Quo(v, big.NewInt(whole)).Int64()
}

// disputeShownBefore decides which of an order's disputes the order shows: an
// open one first, then a lost one, then the one with the smaller id.
func disputeShownBefore(a, b *Dispute) bool {
	rank := func(d *Dispute) int {
		switch {
		case DisputeOpen(d.Status):
			return 0
		case d.Status == "lost":
			return 1
		}
		return 2
	}
	if rank(a) != rank(b) {
		return rank(a) < rank(b)
	}
	return a.ID < b.ID
}

func minNonEmpty(a, b string) string {
	if a == "" || (b != "" && b < a) {
		return b
	}
	return a
}

// StatusFacts are the inputs of DeriveStatus.
type StatusFacts struct {
	DisputeOpen     bool  // a dispute is open (any status other than won, lost, warning_closed)
	DisputeLost     bool  // a dispute was lost
	AmountPaid      int64 // larger of the paid session's amount_total and the succeeded intent's amount_received
	AmountRefunded  int64 // sum over charges of each charge's largest amount_refunded
	Paid            bool  // session paid, async payment succeeded, or payment intent succeeded
	AsyncFailed     bool  // async payment failed
	Expired         bool  // session expired
	AwaitingPayment bool  // session completed with payment_status unpaid
}

// DeriveStatus applies the precedence table of docs/domain.md: the first match wins.
func DeriveStatus(f StatusFacts) OrderStatus {
	switch {
	case f.DisputeOpen:
		return StatusDisputed
	case f.DisputeLost:
		return StatusDisputeLost
	case f.AmountPaid > 0 && f.AmountPaid <= f.AmountRefunded:
		return StatusRefunded
	case f.AmountRefunded > 0 && f.AmountRefunded < f.AmountPaid:
		return StatusPartiallyRefunded
	case f.Paid:
		return StatusPaid
	case f.AsyncFailed:
		return StatusPaymentFailed
	case f.Expired:
		return StatusExpired
	case f.AwaitingPayment:
		return StatusAwaitingPayment
	}
	return StatusPending
}

// HoldKind says how an order holds its units of stock.
type HoldKind string

// Hold kinds.
const (
	HoldNone     HoldKind = ""         // the order holds nothing
	HoldReserved HoldKind = "reserved" // units set aside while payment is pending
	HoldSold     HoldKind = "sold"     // units taken out of stock
)

// Holding returns how an order in this status holds its units. checkoutOpen
// is true while a caisse checkout for the order is open; restockOnRefund is
// the shop's policy for fully refunded orders.
func Holding(status OrderStatus, checkoutOpen, restockOnRefund bool) HoldKind {
	switch status {
	case StatusPaid, StatusPartiallyRefunded, StatusDisputed, StatusDisputeLost:
		return HoldSold
	case StatusRefunded:
		if restockOnRefund {
			return HoldNone
		}
		return HoldSold
	case StatusAwaitingPayment:
		return HoldReserved
	case StatusPending:
		if checkoutOpen {
			return HoldReserved
		}
	}
	return HoldNone
}

// HoldingStatus is the status whose holding an order takes: its own,
// except that an order whose money all came back holds as refunded whatever
// a dispute opened or closed since says. A unit refunded never counts as
// sold again: taking it back would take it from whoever bought it since,
// flag the order oversold and, by policy, refund it a second time.
func HoldingStatus(status OrderStatus, paid, refunded int64) OrderStatus {
	if paid > 0 && refunded >= paid && (status == StatusDisputed || status == StatusDisputeLost) {
		return StatusRefunded
	}
	return status
}

// Hold is the units one order holds of one product.
type Hold struct {
	ProductID string `json:"product_id"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

// WantedHolds returns the holds an order should have for its items, holding
// them in the given way. Items of the same product are added together.
func WantedHolds(items []Item, kind HoldKind) []Hold {
	if kind == HoldNone {
		return nil
	}
	byProduct := map[string]int64{}
	var ids []string
	for _, it := range items {
		if it.Quantity <= 0 {
			continue
		}
		if _, ok := byProduct[it.ProductID]; !ok {
			ids = append(ids, it.ProductID)
		}
		byProduct[it.ProductID] += it.Quantity
	}
	slices.Sort(ids)
	holds := make([]Hold, 0, len(ids))
	for _, id := range ids {
		h := Hold{ProductID: id}
		if kind == HoldSold {
			h.Sold = byProduct[id]
		} else {
			h.Reserved = byProduct[id]
		}
		holds = append(holds, h)
	}
	return holds
}

// StockMove is the change to one product's stock that moves an order from one
// hold to another.
type StockMove struct {
	ProductID string `json:"product_id"`
	// Reserved is added to the product's reserved units.
	Reserved int64 `json:"reserved"`
	// Sold is taken out of the product's stock (negative puts units back).
	Sold int64 `json:"sold"`
	// OnHand is the product's stock right after the move, as a timeline
	// entry records it (nil where it was not recorded).
	OnHand *int64 `json:"on_hand,omitempty"`
}

// String says what the move did to the product's units, as the owner
// reads it: "print-1: stock -1, reserved +1".
func (m StockMove) String() string {
	var parts []string
	if m.Sold != 0 {
		parts = append(parts, fmt.Sprintf("stock %+d", -m.Sold))
	}
	if m.Reserved != 0 {
		parts = append(parts, fmt.Sprintf("reserved %+d", m.Reserved))
	}
	return m.ProductID + ": " + strings.Join(parts, ", ")
}

// Need is the number of units the move takes from the product's available
// units (stock − reserved). A sale first uses the order's own reservation,
// which is already out of available, so converting a reservation needs none.
func (m StockMove) Need() int64 { return m.Sold + m.Reserved }

// Takes reports whether the move can fail for lack of stock.
func (m StockMove) Takes() bool { return m.Need() > 0 || m.Sold > 0 }

// StockMoves returns the moves that turn the holds in from into those in to,
// sorted by product id so concurrent transactions lock products in one order.
func StockMoves(from, to []Hold) []StockMove {
	delta := map[string]*StockMove{}
	var ids []string
	add := func(h Hold, sign int64) {
		m, ok := delta[h.ProductID]
		if !ok {
			m = &StockMove{ProductID: h.ProductID}
			delta[h.ProductID] = m
			ids = append(ids, h.ProductID)
		}
		m.Reserved += sign * h.Reserved
		m.Sold += sign * h.Sold
	}
	for _, h := range from {
		add(h, -1)
	}
	for _, h := range to {
		add(h, 1)
	}
	slices.Sort(ids)
	var moves []StockMove
	for _, id := range ids {
		if m := delta[id]; m.Reserved != 0 || m.Sold != 0 {
			moves = append(moves, *m)
		}
	}
	return moves
}

// MaxOrderProducts is the most distinct products one order may hold, and
// MaxItemQuantity the most units of one product. Metadata that names more is
// recorded on the order as an items error, never dropped.
const (
	MaxOrderProducts = 100
	MaxItemQuantity  = 10_000
)

// ParseItems reads an order's items from Stripe metadata: either
// items = "sku:qty,sku:qty", or product_id with an optional quantity
// (default 1). A product named twice is one item with the quantities added.
// It returns no items and no error when the metadata names none.
func ParseItems(metadata map[string]string) ([]Item, error) {
	if raw := strings.TrimSpace(metadata["items"]); raw != "" {
		var items []Item
		index := map[string]int{}
		for part := range strings.SplitSeq(raw, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			sku, qty, hasQty := strings.Cut(part, ":")
			sku = strings.TrimSpace(sku)
			if sku == "" {
				return nil, fmt.Errorf("metadata items: %q names no product", quoteShort(part))
			}
			if !validProductID(sku) {
				return nil, fmt.Errorf("metadata items: %q is not a product id (1 to 200 characters, no spaces, commas, colons or control characters)", quoteShort(sku))
			}
			n := int64(1)
			if hasQty {
				var err error
				n, err = strconv.ParseInt(strings.TrimSpace(qty), 10, 64)
				if err != nil || n <= 0 || n > MaxItemQuantity {
					return nil, fmt.Errorf("metadata items: quantity %q of %q is not a whole number from 1 to %d", quoteShort(qty), quoteShort(sku), MaxItemQuantity)
				}
			}
			if i, ok := index[sku]; ok {
				items[i].Quantity += n
				if items[i].Quantity > MaxItemQuantity {
					return nil, fmt.Errorf("metadata items: %q adds up to more than %d units", quoteShort(sku), MaxItemQuantity)
				}
				continue
			}
			if len(items) == MaxOrderProducts {
				return nil, fmt.Errorf("metadata items names more than %d products, the most one order holds", MaxOrderProducts)
			}
			index[sku] = len(items)
			items = append(items, Item{ProductID: sku, Quantity: n})
		}
		if len(items) == 0 {
			return nil, fmt.Errorf("metadata items %q names no product", quoteShort(raw))
		}
		return items, nil
	}
	id := strings.TrimSpace(metadata["product_id"])
	if id == "" {
		return nil, nil
	}
	if !validProductID(id) {
		return nil, fmt.Errorf("metadata product_id %q is not a product id (1 to 200 characters, no spaces, commas, colons or control characters)", quoteShort(id))
	}
	n := int64(1)
	if q := strings.TrimSpace(metadata["quantity"]); q != "" {
		var err error
		n, err = strconv.ParseInt(q, 10, 64)
		if err != nil || n <= 0 || n > MaxItemQuantity {
			return nil, fmt.Errorf("metadata quantity %q is not a whole number from 1 to %d", quoteShort(q), MaxItemQuantity)
		}
	}
	return []Item{{ProductID: id, Quantity: n}}, nil
}

// validProductID reports whether id can name a product: 1 to 200
// characters of valid UTF-8, with no spaces, commas, colons or control
// characters (the metadata form "sku:qty,sku:qty" must be able to hold it).
func validProductID(id string) bool {
	if id == "" || len(id) > 200 || !utf8.ValidString(id) {
		return false
	}
	for _, c := range id {
		if c == ',' || c == ':' || unicode.IsSpace(c) || unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// quoteShort keeps a value quoted in a message to a readable length.
func quoteShort(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// FormatItems writes items in the metadata form "sku:qty,sku:qty".
func FormatItems(items []Item) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(it.ProductID)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(it.Quantity, 10))
	}
	return b.String()
}
