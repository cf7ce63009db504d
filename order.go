package caisse

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
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

// Dispute is the dispute shown on an order.
type Dispute struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Amount int64  `json:"amount"`
}

// TimelineEntry records one change of an order's status.
type TimelineEntry struct {
	At      time.Time   `json:"at"`
	EventID string      `json:"event_id"`
	Type    string      `json:"type"`
	From    OrderStatus `json:"from"`
	To      OrderStatus `json:"to"`
}

// Order is a shop order as caisse derives it from Stripe's facts.
type Order struct {
	ID              string      `json:"id"`
	Status          OrderStatus `json:"status"`
	Items           []Item      `json:"items"`
	Currency        string      `json:"currency"`
	AmountTotal     int64       `json:"amount_total"`
	AmountPaid      int64       `json:"amount_paid"`
	AmountRefunded  int64       `json:"amount_refunded"`
	CustomerEmail   string      `json:"customer_email"`
	CheckoutSession string      `json:"checkout_session"`
	PaymentIntent   string      `json:"payment_intent"`
	PaymentError    string      `json:"payment_error"`
	Dispute         *Dispute    `json:"dispute"`
	Oversold        bool        `json:"oversold"`
	UnknownProducts []string    `json:"unknown_products"`
	// ItemsError says why the metadata items could not be read, if they could not.
	ItemsError string `json:"items_error"`
	// OversoldRefund is the id of the refund caisse asked Stripe for when the
	// order was oversold (CAISSE_OVERSOLD_POLICY=refund).
	OversoldRefund string          `json:"oversold_refund"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	Timeline       []TimelineEntry `json:"timeline"`
}

// OrderFilter selects orders in a list.
type OrderFilter struct {
	Status OrderStatus
	Page
}

// Normalize checks the status and the page.
func (f *OrderFilter) Normalize() error {
	if f.Status != "" && !slices.Contains(OrderStatuses, f.Status) {
		return Errorf(EINVALID, "unknown order status %q", f.Status)
	}
	return f.Page.Normalize()
}

// Summary is everything about an order that follows from its facts alone.
type Summary struct {
	Status          OrderStatus
	Items           []Item
	Currency        string
	AmountTotal     int64
	AmountPaid      int64
	AmountRefunded  int64
	CustomerEmail   string
	CheckoutSession string
	PaymentIntent   string
	PaymentError    string
	ItemsError      string
	Dispute         *Dispute
}

// Summarize derives an order's summary from the facts linked to it. It is a
// pure function of the set of facts: their order does not matter.
func Summarize(facts []Fact) Summary {
	var s Summary
	var sessionPaid, asyncFailed, expired, awaiting, piSucceeded bool
	var paidSessionTotal, received, intentTotal int64
	var errAt int64
	for _, f := range facts {
		switch f.Kind {
		case KindSession:
			paid := f.SessionPaid || f.AsyncSucceeded
			sessionPaid = sessionPaid || paid
			if paid {
				paidSessionTotal = max(paidSessionTotal, f.Amount)
			}
			asyncFailed = asyncFailed || f.AsyncFailed
			expired = expired || f.Expired
			awaiting = awaiting || (f.Completed && !f.SessionPaid)
			s.CheckoutSession = minNonEmpty(s.CheckoutSession, f.ID)
			s.AmountTotal = max(s.AmountTotal, f.Amount)
		case KindPaymentIntent:
			piSucceeded = piSucceeded || f.Succeeded
			if f.Succeeded {
				received = max(received, f.AmountReceived)
			}
			s.PaymentIntent = minNonEmpty(s.PaymentIntent, f.ID)
			if f.PaymentErrorAt > errAt || (f.PaymentErrorAt == errAt && f.PaymentError > s.PaymentError) {
				s.PaymentError, errAt = f.PaymentError, f.PaymentErrorAt
			}
			intentTotal = max(intentTotal, f.Amount)
		case KindCharge:
			s.AmountRefunded += f.AmountRefunded
		case KindDispute:
			d := &Dispute{ID: f.ID, Status: f.DisputeStatus, Amount: f.Amount}
			if s.Dispute == nil || disputeShownBefore(d, s.Dispute) {
				s.Dispute = d
			}
		}
		if f.PaymentIntent != "" && f.Kind == KindSession {
			s.PaymentIntent = minNonEmpty(s.PaymentIntent, f.PaymentIntent)
		}
		s.Currency = settle(s.Currency, f.Currency)
		s.CustomerEmail = settle(s.CustomerEmail, f.CustomerEmail)
		if len(f.Items) > 0 && (len(s.Items) == 0 || FormatItems(f.Items) > FormatItems(s.Items)) {
			s.Items = f.Items
		}
		s.ItemsError = settle(s.ItemsError, f.UnknownItems)
	}
	// An order without a session amount (a payment intent made outside
	// Checkout) shows its intents' amount; deciding this after the loop keeps
	// the result independent of the order of the facts.
	if s.AmountTotal == 0 {
		s.AmountTotal = intentTotal
	}
	s.AmountPaid = max(paidSessionTotal, received)
	open, lost := false, false
	for _, f := range facts {
		if f.Kind == KindDispute {
			open = open || DisputeOpen(f.DisputeStatus)
			lost = lost || f.DisputeStatus == "lost"
		}
	}
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

// DeriveStatus applies DESIGN.md's precedence table: the first match wins.
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
	ProductID string
	// Reserved is added to the product's reserved units.
	Reserved int64
	// Sold is taken out of the product's stock (negative puts units back).
	Sold int64
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

// ParseItems reads an order's items from Stripe metadata: either
// items = "sku:qty,sku:qty", or product_id with an optional quantity
// (default 1). It returns no items and no error when the metadata names none.
func ParseItems(metadata map[string]string) ([]Item, error) {
	if raw := strings.TrimSpace(metadata["items"]); raw != "" {
		var items []Item
		for part := range strings.SplitSeq(raw, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			sku, qty, hasQty := strings.Cut(part, ":")
			sku = strings.TrimSpace(sku)
			n := int64(1)
			if hasQty {
				var err error
				n, err = strconv.ParseInt(strings.TrimSpace(qty), 10, 64)
				if err != nil || n <= 0 || n > 1_000_000 {
					return nil, fmt.Errorf("metadata items: quantity %q of %q is not a positive whole number", qty, sku)
				}
			}
			if sku == "" {
				return nil, fmt.Errorf("metadata items: %q names no product", part)
			}
			items = append(items, Item{ProductID: sku, Quantity: n})
		}
		if len(items) == 0 {
			return nil, fmt.Errorf("metadata items %q names no product", raw)
		}
		return items, nil
	}
	id := strings.TrimSpace(metadata["product_id"])
	if id == "" {
		return nil, nil
	}
	if strings.ContainsAny(id, ",:") {
		return nil, fmt.Errorf("metadata product_id %q must not contain a comma or a colon", id)
	}
	n := int64(1)
	if q := strings.TrimSpace(metadata["quantity"]); q != "" {
		var err error
		n, err = strconv.ParseInt(q, 10, 64)
		if err != nil || n <= 0 || n > 1_000_000 {
			return nil, fmt.Errorf("metadata quantity %q is not a positive whole number", q)
		}
	}
	return []Item{{ProductID: id, Quantity: n}}, nil
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
