package caisse

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// memProduct is a product's stock in memLedger.
type memProduct struct {
	Stock, Reserved int64
	// The catalogue's words and the artist, for the tests that need them.
	Name        string
	Price       int64
	Currency    string
	ArtistEmail Addresses
	ArtistShare Percent
}

// memLedger is an in-memory Ledger with the semantics the interface documents.
type memLedger struct {
	facts    map[string]LinkedFact
	orders   map[string]*OrderRecord
	timeline map[string][]TimelineEntry
	products map[string]*memProduct
	outbox   map[string]OutboxMessage
	keys     []string // outbox keys in the order written
	balance  map[string]BalanceTransaction
	payouts  map[string]Payout
	// refundLookups are the charges whose refunds were to be asked of Stripe.
	refundLookups []string
}

func newMemLedger(stock map[string]int64) *memLedger {
	l := &memLedger{
		facts:    map[string]LinkedFact{},
		orders:   map[string]*OrderRecord{},
		timeline: map[string][]TimelineEntry{},
		products: map[string]*memProduct{},
		outbox:   map[string]OutboxMessage{},
	}
	for id, n := range stock {
		l.products[id] = &memProduct{Stock: n}
	}
	return l
}

func cloneFact(f LinkedFact) LinkedFact {
	f.Items = slices.Clone(f.Items)
	f.FailedAttempts = slices.Clone(f.FailedAttempts)
	return f
}

func cloneOrder(o *OrderRecord) *OrderRecord { return o.clone() }

func sortedFacts(m map[string]LinkedFact, keep func(LinkedFact) bool) []LinkedFact {
	var out []LinkedFact
	for _, f := range m {
		if keep(f) {
			out = append(out, cloneFact(f))
		}
	}
	slices.SortFunc(out, func(a, b LinkedFact) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Lock does nothing: the in-memory ledger is used by one goroutine.
func (l *memLedger) Lock(context.Context, []string) error { return nil }

func (l *memLedger) Facts(_ context.Context, ids []string) ([]LinkedFact, error) {
	return sortedFacts(l.facts, func(f LinkedFact) bool { return slices.Contains(ids, f.ID) }), nil
}

func (l *memLedger) Connected(_ context.Context, ids []string) ([]LinkedFact, error) {
	return sortedFacts(l.facts, func(f LinkedFact) bool {
		return slices.Contains(ids, f.ID) ||
			(f.PaymentIntent != "" && slices.Contains(ids, f.PaymentIntent)) ||
			(f.Charge != "" && slices.Contains(ids, f.Charge))
	}), nil
}

func (l *memLedger) OrderFacts(_ context.Context, orderID string) ([]Fact, error) {
	var out []Fact
	for _, f := range sortedFacts(l.facts, func(f LinkedFact) bool { return f.OrderID == orderID }) {
		out = append(out, f.Fact)
	}
	return out, nil
}

func (l *memLedger) PutFact(_ context.Context, f LinkedFact) error {
	l.facts[f.ID] = cloneFact(f)
	return nil
}

func (l *memLedger) LockOrder(_ context.Context, id string) (*OrderRecord, error) {
	o, ok := l.orders[id]
	if !ok {
		return nil, nil
	}
	return cloneOrder(o), nil
}

func (l *memLedger) PutOrder(_ context.Context, o *OrderRecord) error {
	l.orders[o.ID] = cloneOrder(o)
	return nil
}

func (l *memLedger) AddTimeline(_ context.Context, orderID string, e TimelineEntry) error {
	l.timeline[orderID] = append(l.timeline[orderID], e)
	return nil
}

func (l *memLedger) Products(_ context.Context, ids []string) (map[string]*Product, error) {
	out := map[string]*Product{}
	for _, id := range ids {
		if p, ok := l.products[id]; ok {
			out[id] = &Product{ID: id, Name: p.Name, Price: p.Price, Currency: p.Currency, ArtistEmail: p.ArtistEmail, ArtistShare: p.ArtistShare}
		}
	}
	return out, nil
}

func (l *memLedger) MoveStock(_ context.Context, m StockMove) (bool, int64, error) {
	p, ok := l.products[m.ProductID]
	if !ok {
		return false, 0, nil
	}
	if m.Takes() {
		if p.Stock-m.Sold < 0 || (m.Need() > 0 && p.Stock-p.Reserved < m.Need()) {
			return false, p.Stock - p.Reserved, nil
		}
	}
	p.Stock -= m.Sold
	p.Reserved += m.Reserved
	return true, p.Stock - p.Reserved, nil
}

func (l *memLedger) AddOutbox(_ context.Context, m OutboxMessage) error {
	if _, ok := l.outbox[m.Key]; ok {
		return nil
	}
	l.outbox[m.Key] = m
	l.keys = append(l.keys, m.Key)
	return nil
}

func (l *memLedger) AddBalance(_ context.Context, txns []BalanceTransaction) error {
	if l.balance == nil {
		l.balance = map[string]BalanceTransaction{}
	}
	for _, t := range txns {
		cur := l.balance[t.ID]
		cur.Merge(t)
		l.balance[t.ID] = cur
	}
	return nil
}

func (l *memLedger) AddPayout(_ context.Context, p Payout) error {
	if l.payouts == nil {
		l.payouts = map[string]Payout{}
	}
	cur := l.payouts[p.ID]
	cur.Merge(p)
	l.payouts[p.ID] = cur
	return nil
}

func (l *memLedger) LookUpRefunds(_ context.Context, charge string) error {
	l.refundLookups = append(l.refundLookups, charge)
	return nil
}

// snapshot is the ledger's whole state, deep-copied, for comparisons.
type snapshot struct {
	Facts    map[string]LinkedFact
	Orders   map[string]OrderRecord
	Timeline map[string][]TimelineEntry
	Products map[string]memProduct
	Outbox   []string
}

func (l *memLedger) snapshot() snapshot {
	s := snapshot{Facts: map[string]LinkedFact{}, Orders: map[string]OrderRecord{},
		Timeline: map[string][]TimelineEntry{}, Products: map[string]memProduct{}, Outbox: slices.Clone(l.keys)}
	for id, f := range l.facts {
		s.Facts[id] = cloneFact(f)
	}
	for id, o := range l.orders {
		s.Orders[id] = *cloneOrder(o)
	}
	for id, tl := range l.timeline {
		s.Timeline[id] = slices.Clone(tl)
	}
	for id, p := range l.products {
		s.Products[id] = *p
	}
	return s
}

// outboxKinds lists the topics of the outbox messages written, in order.
func (l *memLedger) outboxKinds() []string {
	var out []string
	for _, k := range l.keys {
		out = append(out, l.outbox[k].Topic)
	}
	return out
}

func (l *memLedger) stock(t *testing.T, id string) (stock, reserved int64) {
	t.Helper()
	p, ok := l.products[id]
	if !ok {
		t.Fatalf("no product %s", id)
	}
	return p.Stock, p.Reserved
}

func (l *memLedger) order(t *testing.T, id string) *OrderRecord {
	t.Helper()
	o, ok := l.orders[id]
	if !ok {
		t.Fatalf("no order %s; orders: %v", id, l.orders)
	}
	return o
}

// testEvent is an event and the facts it carries.
type testEvent struct {
	ev    Event
	facts EventFacts
}

func tev(id, typ string, created int64, facts ...Fact) testEvent {
	return testEvent{ev: Event{ID: id, Type: typ, Created: created}, facts: EventFacts{Facts: facts}}
}

// ticking returns a clock that moves one second on each call, so an order
// written again by mistake shows a new UpdatedAt.
func ticking() func() time.Time {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	return func() time.Time {
		n++
		return t0.Add(time.Duration(n) * time.Second)
	}
}

func apply(t *testing.T, r Rules, l *memLedger, e testEvent) Outcome {
	t.Helper()
	ev := e.ev
	out, err := r.Apply(context.Background(), l, &ev, e.facts)
	if err != nil {
		t.Fatalf("Apply(%s %s): %v", e.ev.ID, e.ev.Type, err)
	}
	return out
}

// Events of one order: ord_1, session cs_1, payment intent pi_1, charge ch_1,
// one unit of "print" for 1000.
var (
	evCompletedPaid = tev("evt_completed", "checkout.session.completed", 100, Fact{ID: "cs_1", Kind: KindSession,
		OrderRef: "ord_1", PaymentIntent: "pi_1", Completed: true, SessionPaid: true, Amount: 1000, Currency: "eur",
		CustomerEmail: "buyer@example.com", Items: []Item{{"print", 1}}})
	evCompletedUnpaid = tev("evt_completed_unpaid", "checkout.session.completed", 100, Fact{ID: "cs_1", Kind: KindSession,
		OrderRef: "ord_1", PaymentIntent: "pi_1", Completed: true, Amount: 1000, Currency: "eur",
		CustomerEmail: "buyer@example.com", Items: []Item{{"print", 1}}})
	evAsyncSucceeded = tev("evt_async_ok", "checkout.session.async_payment_succeeded", 300, Fact{ID: "cs_1", Kind: KindSession,
		OrderRef: "ord_1", PaymentIntent: "pi_1", Completed: true, AsyncSucceeded: true, Amount: 1000, Currency: "eur",
		Items: []Item{{"print", 1}}})
	evExpired = tev("evt_expired", "checkout.session.expired", 300, Fact{ID: "cs_1", Kind: KindSession,
		OrderRef: "ord_1", Expired: true, Amount: 1000, Currency: "eur", Items: []Item{{"print", 1}}})
	evPISucceeded = tev("evt_pi_ok", "payment_intent.succeeded", 101, Fact{ID: "pi_1", Kind: KindPaymentIntent,
		Succeeded: true, Amount: 1000, AmountReceived: 1000, Currency: "eur"})
	evPIFailed = tev("evt_pi_failed", "payment_intent.payment_failed", 150, Fact{ID: "pi_1", Kind: KindPaymentIntent,
		Amount: 1000, Currency: "eur", PaymentError: "Your card was declined.", PaymentErrorAt: 150, FailedAttempts: []string{"evt_pi_failed"}})
	evRefundPartial = tev("evt_refund_500", "charge.refunded", 200, Fact{ID: "ch_1", Kind: KindCharge,
		PaymentIntent: "pi_1", Amount: 1000, AmountRefunded: 500, Currency: "eur"})
	evRefundFull = tev("evt_refund_1000", "charge.refunded", 201, Fact{ID: "ch_1", Kind: KindCharge,
		PaymentIntent: "pi_1", Amount: 1000, AmountRefunded: 1000, Currency: "eur"})
)

func TestApplyFactWaitsForItsLink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		early      []testEvent // arrive before the session
		wantStatus OrderStatus
		wantLinked []string
	}{
		{"intent succeeded first", []testEvent{evPISucceeded}, StatusPaid, []string{"cs_1", "pi_1"}},
		{"intent then partial refund first", []testEvent{evPISucceeded, evRefundPartial}, StatusPartiallyRefunded, []string{"ch_1", "cs_1", "pi_1"}},
		{"refund before its intent", []testEvent{evRefundFull, evPISucceeded}, StatusRefunded, []string{"ch_1", "cs_1", "pi_1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newMemLedger(map[string]int64{"print": 3})
			r := Rules{RestockOnRefund: true, Now: ticking()}
			for _, e := range tt.early {
				out := apply(t, r, l, e)
				if len(out.Orders) != 0 || len(out.Transitions) != 0 {
					t.Fatalf("%s touched orders %v before any link", e.ev.Type, out.Orders)
				}
			}
			if len(l.orders) != 0 {
				t.Fatalf("orders exist before the session: %v", l.orders)
			}
			for id, f := range l.facts {
				if f.OrderID != "" {
					t.Fatalf("fact %s linked to %q before the session", id, f.OrderID)
				}
			}
			if s, r := l.stock(t, "print"); s != 3 || r != 0 {
				t.Fatalf("stock moved before the order existed: stock %d reserved %d", s, r)
			}

			// The session names the order and links the waiting facts.
			out := apply(t, r, l, evCompletedPaid)
			if !slices.Equal(out.Orders, []string{"ord_1"}) {
				t.Errorf("Outcome.Orders = %v, want [ord_1]", out.Orders)
			}
			var linked []string
			for id, f := range l.facts {
				if f.OrderID == "ord_1" {
					linked = append(linked, id)
				}
			}
			slices.Sort(linked)
			if !slices.Equal(linked, tt.wantLinked) {
				t.Errorf("facts linked to ord_1 = %v, want %v", linked, tt.wantLinked)
			}
			o := l.order(t, "ord_1")
			if o.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s", o.Status, tt.wantStatus)
			}
			if o.PaymentIntent != "pi_1" || o.CheckoutSession != "cs_1" || o.AmountPaid != 1000 {
				t.Errorf("order = %+v", o.Order)
			}

			// The same events in their natural order give the same order and stock.
			l2 := newMemLedger(map[string]int64{"print": 3})
			apply(t, r, l2, evCompletedPaid)
			for _, e := range tt.early {
				apply(t, r, l2, e)
			}
			o2 := l2.order(t, "ord_1")
			if o.Status != o2.Status || o.AmountPaid != o2.AmountPaid || o.AmountRefunded != o2.AmountRefunded ||
				!reflect.DeepEqual(o.Holds, o2.Holds) || !reflect.DeepEqual(o.Items, o2.Items) {
				t.Errorf("order differs with event order:\n%+v\n%+v", o, o2)
			}
			if !reflect.DeepEqual(l.snapshot().Products, l2.snapshot().Products) {
				t.Errorf("stock differs with event order: %+v vs %+v", l.snapshot().Products, l2.snapshot().Products)
			}
		})
	}
}

func TestApplyStockOnPaymentAndRefund(t *testing.T) {
	t.Parallel()
	tests := []struct {
		restock       bool
		wantStock     int64
		wantHolds     []Hold
		wantAvailable bool
	}{
		{restock: true, wantStock: 1, wantHolds: nil},
		{restock: false, wantStock: 0, wantHolds: []Hold{{ProductID: "print", Sold: 1}}},
	}
	for _, tt := range tests {
		t.Run(map[bool]string{true: "restock on refund", false: "no restock on refund"}[tt.restock], func(t *testing.T) {
			t.Parallel()
			l := newMemLedger(map[string]int64{"print": 1})
			r := Rules{RestockOnRefund: tt.restock, Now: ticking()}

			apply(t, r, l, evCompletedPaid)
			o := l.order(t, "ord_1")
			if o.Status != StatusPaid || o.Oversold {
				t.Fatalf("after payment: status %s oversold %t", o.Status, o.Oversold)
			}
			if s, res := l.stock(t, "print"); s != 0 || res != 0 {
				t.Fatalf("after payment: stock %d reserved %d, want 0 0", s, res)
			}
			if !reflect.DeepEqual(o.Holds, []Hold{{ProductID: "print", Sold: 1}}) {
				t.Fatalf("after payment: holds %+v", o.Holds)
			}
			if !slices.Contains(l.outboxKinds(), TopicOrderConfirmation) || !slices.Contains(l.outboxKinds(), HookOrderPaid) {
				t.Errorf("outbox after payment: %v", l.outboxKinds())
			}

			// A partial refund keeps the unit sold.
			apply(t, r, l, evRefundPartial)
			if o := l.order(t, "ord_1"); o.Status != StatusPartiallyRefunded || o.AmountRefunded != 500 {
				t.Fatalf("after partial refund: status %s refunded %d", o.Status, o.AmountRefunded)
			}
			if s, _ := l.stock(t, "print"); s != 0 {
				t.Fatalf("partial refund restocked: stock %d", s)
			}

			// A full refund restocks only by policy.
			apply(t, r, l, evRefundFull)
			o = l.order(t, "ord_1")
			if o.Status != StatusRefunded || o.AmountRefunded != 1000 {
				t.Fatalf("after full refund: status %s refunded %d", o.Status, o.AmountRefunded)
			}
			if s, res := l.stock(t, "print"); s != tt.wantStock || res != 0 {
				t.Errorf("after full refund: stock %d reserved %d, want %d 0", s, res, tt.wantStock)
			}
			if len(o.Holds) != len(tt.wantHolds) || (len(o.Holds) > 0 && !reflect.DeepEqual(o.Holds, tt.wantHolds)) {
				t.Errorf("after full refund: holds %+v, want %+v", o.Holds, tt.wantHolds)
			}
			if !slices.Contains(l.outboxKinds(), "order_refunded") {
				t.Errorf("outbox after refund: %v", l.outboxKinds())
			}
		})
	}
}

func TestApplyOversold(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"print": 0})
	r := Rules{RestockOnRefund: true, Now: ticking()}

	out := apply(t, r, l, evCompletedPaid)
	if !slices.Equal(out.Oversold, []string{"ord_1"}) {
		t.Errorf("Outcome.Oversold = %v, want [ord_1]", out.Oversold)
	}
	o := l.order(t, "ord_1")
	if o.Status != StatusPaid || !o.Oversold || len(o.Holds) != 0 {
		t.Fatalf("order paid with no stock: status %s oversold %t holds %+v, want paid, true, none", o.Status, o.Oversold, o.Holds)
	}
	if s, res := l.stock(t, "print"); s != 0 || res != 0 {
		t.Fatalf("stock %d reserved %d, want 0 0", s, res)
	}
	if m, ok := l.outbox["alert:order_oversold:ord_1"]; !ok || m.Channel != ChannelAlert {
		t.Errorf("no oversold alert: %v", l.outboxKinds())
	}

	// Stock comes back and another event arrives: the flag stays, the order holds nothing.
	l.products["print"].Stock = 5
	out = apply(t, r, l, evPISucceeded)
	o = l.order(t, "ord_1")
	if o.Status != StatusPaid || !o.Oversold || len(o.Holds) != 0 {
		t.Errorf("after restock: status %s oversold %t holds %+v, want paid, true, none", o.Status, o.Oversold, o.Holds)
	}
	if len(out.Oversold) != 0 {
		t.Errorf("Outcome.Oversold = %v on a later event", out.Oversold)
	}
	if s, res := l.stock(t, "print"); s != 5 || res != 0 {
		t.Errorf("stock %d reserved %d, want 5 0", s, res)
	}
	// And once more with a refund event; a full refund holds nothing anyway.
	apply(t, r, l, evRefundPartial)
	o = l.order(t, "ord_1")
	if o.Status != StatusPartiallyRefunded || !o.Oversold || len(o.Holds) != 0 {
		t.Errorf("after partial refund: status %s oversold %t holds %+v", o.Status, o.Oversold, o.Holds)
	}
	if s, res := l.stock(t, "print"); s != 5 || res != 0 {
		t.Errorf("stock %d reserved %d, want 5 0", s, res)
	}
}

func TestApplySaleNeverTakesAnotherBuyersReservation(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"print": 1})
	r := Rules{RestockOnRefund: true, Now: ticking()}

	// Buyer A completes checkout with a delayed method: the unit is reserved.
	apply(t, r, l, evCompletedUnpaid)
	if s, res := l.stock(t, "print"); s != 1 || res != 1 {
		t.Fatalf("stock %d reserved %d, want 1 1", s, res)
	}
	// Buyer B pays at once for the same unit: no unit is available.
	apply(t, r, l, tev("evt_b", "checkout.session.completed", 110, Fact{ID: "cs_2", Kind: KindSession, OrderRef: "ord_2",
		Completed: true, SessionPaid: true, Amount: 1000, Items: []Item{{"print", 1}}}))
	b := l.order(t, "ord_2")
	if b.Status != StatusPaid || !b.Oversold || len(b.Holds) != 0 {
		t.Fatalf("buyer B: status %s oversold %t holds %+v, want paid oversold none", b.Status, b.Oversold, b.Holds)
	}
	// Buyer A's payment arrives: the reservation becomes the sale.
	apply(t, r, l, evAsyncSucceeded)
	a := l.order(t, "ord_1")
	if a.Status != StatusPaid || a.Oversold || !reflect.DeepEqual(a.Holds, []Hold{{ProductID: "print", Sold: 1}}) {
		t.Fatalf("buyer A: status %s oversold %t holds %+v", a.Status, a.Oversold, a.Holds)
	}
	if s, res := l.stock(t, "print"); s != 0 || res != 0 {
		t.Errorf("stock %d reserved %d, want 0 0", s, res)
	}
}

func TestApplyReservation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		then                    testEvent
		wantStatus              OrderStatus
		wantStock, wantReserved int64
		wantHolds               []Hold
	}{
		{"payment converts the reservation", evAsyncSucceeded, StatusPaid, 1, 0, []Hold{{ProductID: "print", Sold: 1}}},
		{"intent success converts the reservation", evPISucceeded, StatusPaid, 1, 0, []Hold{{ProductID: "print", Sold: 1}}},
		{"async failure releases it", tev("evt_async_ko", "checkout.session.async_payment_failed", 300,
			Fact{ID: "cs_1", Kind: KindSession, OrderRef: "ord_1", Completed: true, AsyncFailed: true, Amount: 1000}),
			StatusPaymentFailed, 2, 0, nil},
		{"a failed attempt keeps it", evPIFailed, StatusAwaitingPayment, 2, 1, []Hold{{ProductID: "print", Reserved: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newMemLedger(map[string]int64{"print": 2})
			r := Rules{RestockOnRefund: true, Now: ticking()}
			apply(t, r, l, evCompletedUnpaid)
			o := l.order(t, "ord_1")
			if o.Status != StatusAwaitingPayment || !reflect.DeepEqual(o.Holds, []Hold{{ProductID: "print", Reserved: 1}}) {
				t.Fatalf("awaiting payment: status %s holds %+v", o.Status, o.Holds)
			}
			if s, res := l.stock(t, "print"); s != 2 || res != 1 {
				t.Fatalf("awaiting payment: stock %d reserved %d, want 2 1", s, res)
			}

			apply(t, r, l, tt.then)
			o = l.order(t, "ord_1")
			if o.Status != tt.wantStatus || o.Oversold {
				t.Errorf("status %s oversold %t, want %s false", o.Status, o.Oversold, tt.wantStatus)
			}
			if s, res := l.stock(t, "print"); s != tt.wantStock || res != tt.wantReserved {
				t.Errorf("stock %d reserved %d, want %d %d", s, res, tt.wantStock, tt.wantReserved)
			}
			if len(o.Holds) != len(tt.wantHolds) || (len(o.Holds) > 0 && !reflect.DeepEqual(o.Holds, tt.wantHolds)) {
				t.Errorf("holds %+v, want %+v", o.Holds, tt.wantHolds)
			}
		})
	}
}

func TestApplyCheckoutItemsAndReservation(t *testing.T) {
	t.Parallel()
	// A caisse checkout reserved one print; the session's metadata names something else.
	l := newMemLedger(map[string]int64{"print": 1, "other": 10})
	l.products["print"].Reserved = 1
	l.orders["ord_1"] = &OrderRecord{
		Order:         Order{ID: "ord_1", Status: StatusPending, UpdatedAt: time.Unix(1, 0)},
		Holds:         []Hold{{ProductID: "print", Reserved: 1}},
		CheckoutItems: []Line{{ProductID: "print", Quantity: 1}},
		CheckoutOpen:  true,
	}
	r := Rules{RestockOnRefund: true, Now: ticking()}
	e := evCompletedPaid
	e.facts.Facts = []Fact{e.facts.Facts[0]}
	e.facts.Facts[0].Items = []Item{{"other", 3}}
	apply(t, r, l, e)
	o := l.order(t, "ord_1")
	if o.Status != StatusPaid || o.Oversold || !reflect.DeepEqual(o.Items, []Line{{ProductID: "print", Quantity: 1}}) ||
		!reflect.DeepEqual(o.Holds, []Hold{{ProductID: "print", Sold: 1}}) {
		t.Fatalf("order: %+v holds %+v", o.Order, o.Holds)
	}
	if s, res := l.stock(t, "print"); s != 0 || res != 0 {
		t.Errorf("print: stock %d reserved %d, want 0 0", s, res)
	}
	if s, res := l.stock(t, "other"); s != 10 || res != 0 {
		t.Errorf("other: stock %d reserved %d, want 10 0", s, res)
	}
}

func TestApplyUnknownProductIsFlaggedNotDropped(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"print": 5})
	r := Rules{RestockOnRefund: true, Now: ticking()}
	e := evCompletedPaid
	e.facts.Facts = []Fact{e.facts.Facts[0]}
	e.facts.Facts[0].Items = []Item{{"print", 1}, {"ghost", 2}}
	apply(t, r, l, e)
	o := l.order(t, "ord_1")
	if o.Status != StatusPaid || !slices.Equal(o.UnknownProducts, []string{"ghost"}) ||
		!reflect.DeepEqual(o.Holds, []Hold{{ProductID: "print", Sold: 1}}) {
		t.Errorf("order: %+v holds %+v", o.Order, o.Holds)
	}
	if s, _ := l.stock(t, "print"); s != 4 {
		t.Errorf("stock %d, want 4", s)
	}
}

func TestApplyTimelineOnlyOnStatusChange(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"print": 2})
	r := Rules{RestockOnRefund: true, Now: ticking()}
	steps := []struct {
		e    testEvent
		want []Transition // timeline entries expected after the step, in total
	}{
		{evCompletedUnpaid, []Transition{{"ord_1", StatusPending, StatusAwaitingPayment}}},
		{evCompletedUnpaid, []Transition{{"ord_1", StatusPending, StatusAwaitingPayment}}},
		// A declined attempt changes no status, but is in the timeline.
		{evPIFailed, []Transition{{"ord_1", StatusPending, StatusAwaitingPayment}, {"ord_1", StatusAwaitingPayment, StatusAwaitingPayment}}},
		{evPIFailed, []Transition{{"ord_1", StatusPending, StatusAwaitingPayment}, {"ord_1", StatusAwaitingPayment, StatusAwaitingPayment}}},
		{evAsyncSucceeded, []Transition{{"ord_1", StatusPending, StatusAwaitingPayment}, {"ord_1", StatusAwaitingPayment, StatusAwaitingPayment},
			{"ord_1", StatusAwaitingPayment, StatusPaid}}},
		{evPISucceeded, []Transition{{"ord_1", StatusPending, StatusAwaitingPayment}, {"ord_1", StatusAwaitingPayment, StatusAwaitingPayment},
			{"ord_1", StatusAwaitingPayment, StatusPaid}}},
		{evRefundPartial, []Transition{{"ord_1", StatusPending, StatusAwaitingPayment}, {"ord_1", StatusAwaitingPayment, StatusAwaitingPayment},
			{"ord_1", StatusAwaitingPayment, StatusPaid}, {"ord_1", StatusPaid, StatusPartiallyRefunded}}},
	}
	for i, step := range steps {
		out := apply(t, r, l, step.e)
		tl := l.timeline["ord_1"]
		var got []Transition
		for _, e := range tl {
			got = append(got, Transition{"ord_1", e.From, e.To})
		}
		if !reflect.DeepEqual(got, step.want) {
			t.Fatalf("step %d (%s): timeline %v, want %v", i, step.e.ev.ID, got, step.want)
		}
		last := tl[len(tl)-1]
		if last.From == last.To && (last.EventID != evPIFailed.ev.ID || !strings.HasPrefix(last.Note, "payment declined: ")) {
			t.Errorf("step %d: an entry without a change of status %+v is not the declined attempt's", i, last)
		}
		if len(out.Transitions) > 0 {
			if last.EventID != step.e.ev.ID || last.Type != step.e.ev.Type || last.At.IsZero() {
				t.Errorf("step %d: last entry %+v not from event %s", i, last, step.e.ev.ID)
			}
			if !reflect.DeepEqual(out.Transitions, []Transition{step.want[len(step.want)-1]}) {
				t.Errorf("step %d: Outcome.Transitions %v", i, out.Transitions)
			}
		} else if last.EventID == step.e.ev.ID && last.From != last.To && i > 0 && steps[i-1].e.ev.ID != step.e.ev.ID {
			t.Errorf("step %d: a timeline entry names an event that changed no status", i)
		}
	}
	// The failed attempt notified the customer once, and the order shows the error.
	n := 0
	for _, k := range l.outboxKinds() {
		if k == TopicPaymentFailed {
			n++
		}
	}
	if n != 1 {
		t.Errorf("payment_failed messages = %d, want 1 (outbox %v)", n, l.outboxKinds())
	}
	if o := l.order(t, "ord_1"); o.PaymentError != "Your card was declined." {
		t.Errorf("PaymentError = %q", o.PaymentError)
	}
}

// Each timeline entry carries what its change did to the stock: the units
// reserved while payment is pending, the reservation turned into a sale,
// the units put back by a full refund (RestockOnRefund), and nothing for a
// change that moves no unit.
func TestApplyTimelineRecordsStockMoves(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"print": 2})
	r := Rules{RestockOnRefund: true, Now: ticking()}
	for _, e := range []testEvent{evCompletedUnpaid, evAsyncSucceeded, evRefundPartial, evRefundFull} {
		apply(t, r, l, e)
	}
	want := []TimelineEntry{
		{From: StatusPending, To: StatusAwaitingPayment, Stock: []StockMove{{ProductID: "print", Reserved: 1}}},
		{From: StatusAwaitingPayment, To: StatusPaid, Stock: []StockMove{{ProductID: "print", Reserved: -1, Sold: 1}}},
		{From: StatusPaid, To: StatusPartiallyRefunded},
		{From: StatusPartiallyRefunded, To: StatusRefunded, Stock: []StockMove{{ProductID: "print", Sold: -1}}},
	}
	tl := l.timeline["ord_1"]
	if len(tl) != len(want) {
		t.Fatalf("timeline %+v, want %d entries", tl, len(want))
	}
	for i, e := range tl {
		if e.From != want[i].From || e.To != want[i].To || !reflect.DeepEqual(e.Stock, want[i].Stock) {
			t.Errorf("entry %d: %s → %s moved %+v, want %s → %s moving %+v", i, e.From, e.To, e.Stock, want[i].From, want[i].To, want[i].Stock)
		}
	}
	if s, res := l.stock(t, "print"); s != 2 || res != 0 {
		t.Errorf("stock %d reserved %d, want the unit back: 2 0", s, res)
	}

	// A caisse checkout's entry records its reservation.
	rec := &OrderRecord{Order: Order{ID: "ord_2", Status: StatusPending, Items: []Line{{ProductID: "print", Quantity: 2}}, CreatedAt: time.Now()},
		CheckoutItems: []Line{{ProductID: "print", Quantity: 2}}, CheckoutOpen: true}
	if unavailable, err := r.OpenCheckout(context.Background(), l, rec); err != nil || len(unavailable) > 0 {
		t.Fatalf("OpenCheckout: %v %v", unavailable, err)
	}
	if tl := l.timeline["ord_2"]; len(tl) != 1 || !reflect.DeepEqual(tl[0].Stock, []StockMove{{ProductID: "print", Reserved: 2}}) {
		t.Errorf("checkout's timeline %+v, want its reservation of 2", tl)
	}
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	sequences := map[string][]testEvent{
		"paid":                  {evCompletedPaid},
		"intent before session": {evPISucceeded, evCompletedPaid},
		"awaiting then paid":    {evCompletedUnpaid, evPIFailed, evAsyncSucceeded},
		"paid then refunded":    {evCompletedPaid, evPISucceeded, evRefundPartial, evRefundFull},
		"expired":               {evExpired},
		"disputed": {evCompletedPaid, evPISucceeded, tev("evt_dp", "charge.dispute.created", 400, Fact{ID: "dp_1",
			Kind: KindDispute, Charge: "ch_1", PaymentIntent: "pi_1", Amount: 1000, DisputeStatus: "needs_response"})},
		"oversold": {evCompletedPaid, tev("evt_c2", "checkout.session.completed", 100, Fact{ID: "cs_2", Kind: KindSession,
			OrderRef: "ord_2", Completed: true, SessionPaid: true, Amount: 1000, Items: []Item{{"print", 1}}})},
	}
	for name, seq := range sequences {
		for _, restock := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s restock=%t", name, restock), func(t *testing.T) {
				t.Parallel()
				l := newMemLedger(map[string]int64{"print": 1})
				r := Rules{RestockOnRefund: restock, Now: ticking()}
				for _, e := range seq {
					apply(t, r, l, e)
					before := l.snapshot()
					out := apply(t, r, l, e)
					after := l.snapshot()
					if !reflect.DeepEqual(before, after) {
						t.Fatalf("applying %s again changed the ledger:\nbefore %+v\nafter  %+v", e.ev.ID, before, after)
					}
					if len(out.Transitions) != 0 || len(out.Oversold) != 0 {
						t.Errorf("applying %s again: transitions %v oversold %v", e.ev.ID, out.Transitions, out.Oversold)
					}
				}
				// And the whole sequence again, once more.
				before := l.snapshot()
				for _, e := range seq {
					apply(t, r, l, e)
				}
				if after := l.snapshot(); !reflect.DeepEqual(before, after) {
					t.Fatalf("replaying the sequence changed the ledger:\nbefore %+v\nafter  %+v", before, after)
				}
				if s, res := l.stock(t, "print"); s < 0 || res < 0 || s-res < 0 {
					t.Errorf("stock %d reserved %d", s, res)
				}
			})
		}
	}
}

// TestApplyOversoldFlagIsStored checks that a sale that finds no stock stores
// the oversold flag together with its alert, even when nothing else about the
// order changed (here: the restock policy was turned off after a full refund
// had put the unit back, and the unit was sold to someone else meanwhile).
func TestApplyOversoldFlagIsStored(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"print": 1})
	on := Rules{RestockOnRefund: true, Now: ticking()}
	apply(t, on, l, evCompletedPaid)
	apply(t, on, l, evRefundFull)
	if o := l.order(t, "ord_1"); o.Status != StatusRefunded || len(o.Holds) != 0 {
		t.Fatalf("refunded: status %s holds %+v", o.Status, o.Holds)
	}
	l.products["print"].Stock = 0 // sold elsewhere

	off := Rules{RestockOnRefund: false, Now: ticking()}
	out := apply(t, off, l, evRefundFull)
	o := l.order(t, "ord_1")
	_, alerted := l.outbox["alert:order_oversold:ord_1"]
	if alerted != o.Oversold || slices.Contains(out.Oversold, "ord_1") != o.Oversold {
		t.Errorf("oversold alert written %t, reported %v, but order.Oversold = %t", alerted, out.Oversold, o.Oversold)
	}
	if s, res := l.stock(t, "print"); s != 0 || res != 0 {
		t.Errorf("stock %d reserved %d, want 0 0", s, res)
	}
}

func TestApplyNoFacts(t *testing.T) {
	t.Parallel()
	l := newMemLedger(nil)
	r := Rules{Now: ticking()}
	out, err := r.Apply(context.Background(), l, &Event{ID: "evt_x", Type: "customer.created"}, EventFacts{Ignored: true})
	if err != nil || len(out.Orders) != 0 || len(l.facts) != 0 || len(l.orders) != 0 || len(l.keys) != 0 {
		t.Errorf("ignored event changed something: %+v, %v", out, err)
	}
}

// TestApplyRelinkMovesStockBetweenOrders: a session with no order reference
// becomes an order under its own id; when its payment intent later names the
// order, every fact moves to that order, and so do the units, without the
// move finding the stock short (whatever the order ids' sort order).
func TestApplyRelinkMovesStockBetweenOrders(t *testing.T) {
	t.Parallel()
	for _, ref := range []string{"1001", "ord_1"} { // sorting before and after "cs_1"
		t.Run(ref, func(t *testing.T) {
			t.Parallel()
			l := newMemLedger(map[string]int64{"print": 1})
			r := Rules{RestockOnRefund: true, Now: ticking()}
			apply(t, r, l, tev("evt_cs", "checkout.session.completed", 100, Fact{ID: "cs_1", Kind: KindSession,
				PaymentIntent: "pi_1", Completed: true, SessionPaid: true, Amount: 1000, Items: []Item{{"print", 1}}}))
			if o := l.order(t, "cs_1"); o.Status != StatusPaid || !reflect.DeepEqual(o.Holds, []Hold{{ProductID: "print", Sold: 1}}) {
				t.Fatalf("order cs_1: %s %+v", o.Status, o.Holds)
			}
			out := apply(t, r, l, tev("evt_pi", "payment_intent.succeeded", 101, Fact{ID: "pi_1", Kind: KindPaymentIntent,
				OrderRef: ref, Succeeded: true, Amount: 1000, AmountReceived: 1000}))
			if want := []string{"cs_1", ref}; !reflect.DeepEqual(sortedCopy(out.Orders), sortedCopy(want)) {
				t.Errorf("Outcome.Orders = %v, want %v", out.Orders, want)
			}
			for id, f := range l.facts {
				if f.OrderID != ref {
					t.Errorf("fact %s linked to %q, want %q", id, f.OrderID, ref)
				}
			}
			o := l.order(t, ref)
			if o.Status != StatusPaid || o.Oversold || !reflect.DeepEqual(o.Holds, []Hold{{ProductID: "print", Sold: 1}}) {
				t.Errorf("order %s: status %s oversold %t holds %+v, want paid, not oversold, 1 sold", ref, o.Status, o.Oversold, o.Holds)
			}
			if old := l.order(t, "cs_1"); len(old.Holds) != 0 {
				t.Errorf("order cs_1 still holds %+v", old.Holds)
			}
			if s, res := l.stock(t, "print"); s != 0 || res != 0 {
				t.Errorf("stock %d reserved %d, want 0 0", s, res)
			}
			if _, ok := l.outbox["alert:order_oversold:"+ref]; ok {
				t.Errorf("oversold alert for %s", ref)
			}
		})
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func TestApplyReservationWithoutStockIsNotOversold(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"print": 0})
	r := Rules{RestockOnRefund: true, Now: ticking()}
	out := apply(t, r, l, evCompletedUnpaid)
	o := l.order(t, "ord_1")
	if o.Status != StatusAwaitingPayment || o.Oversold || len(o.Holds) != 0 || len(out.Oversold) != 0 {
		t.Fatalf("reservation with no stock: status %s oversold %t holds %+v outcome %v", o.Status, o.Oversold, o.Holds, out.Oversold)
	}
	if _, ok := l.outbox["alert:order_oversold:ord_1"]; ok {
		t.Error("oversold alert for a reservation")
	}
	// Stock arrives, and the payment then finds it: a plain sale.
	l.products["print"].Stock = 1
	apply(t, r, l, evAsyncSucceeded)
	o = l.order(t, "ord_1")
	if o.Status != StatusPaid || o.Oversold || !reflect.DeepEqual(o.Holds, []Hold{{ProductID: "print", Sold: 1}}) {
		t.Errorf("after payment: status %s oversold %t holds %+v", o.Status, o.Oversold, o.Holds)
	}
	if s, res := l.stock(t, "print"); s != 0 || res != 0 {
		t.Errorf("stock %d reserved %d, want 0 0", s, res)
	}
}

func TestApplyDisputeLinksThroughItsCharge(t *testing.T) {
	t.Parallel()
	dispute := func(id, typ, status string) testEvent {
		return tev(id, typ, 400, Fact{ID: "dp_1", Kind: KindDispute, Charge: "ch_1", Amount: 1000, DisputeStatus: status})
	}
	tests := []struct {
		name string
		seq  []testEvent
		want OrderStatus
	}{
		{"dispute after the charge", []testEvent{evCompletedPaid, evRefundPartial, dispute("evt_dp1", "charge.dispute.created", "needs_response")}, StatusDisputed},
		{"dispute before everything", []testEvent{dispute("evt_dp1", "charge.dispute.created", "needs_response"), evRefundPartial, evCompletedPaid}, StatusDisputed},
		{"lost, then a late created", []testEvent{evCompletedPaid, evRefundPartial, dispute("evt_dp2", "charge.dispute.closed", "lost"),
			dispute("evt_dp1", "charge.dispute.created", "needs_response")}, StatusDisputeLost},
		{"won, then a late created", []testEvent{dispute("evt_dp2", "charge.dispute.closed", "won"), evCompletedPaid, evRefundPartial,
			dispute("evt_dp1", "charge.dispute.created", "needs_response")}, StatusPartiallyRefunded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newMemLedger(map[string]int64{"print": 1})
			r := Rules{RestockOnRefund: true, Now: ticking()}
			for _, e := range tt.seq {
				apply(t, r, l, e)
			}
			if f := l.facts["dp_1"]; f.OrderID != "ord_1" {
				t.Errorf("dispute linked to %q, want ord_1", f.OrderID)
			}
			o := l.order(t, "ord_1")
			if o.Status != tt.want || o.Dispute == nil || o.Dispute.ID != "dp_1" {
				t.Errorf("status %s dispute %+v, want %s dp_1", o.Status, o.Dispute, tt.want)
			}
			if !reflect.DeepEqual(o.Holds, []Hold{{ProductID: "print", Sold: 1}}) {
				t.Errorf("holds %+v", o.Holds)
			}
		})
	}
}

func TestApplyFailedSaleUndoesOtherProducts(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"a": 5, "b": 0, "c": 2})
	r := Rules{RestockOnRefund: true, Now: ticking()}
	apply(t, r, l, tev("evt_1", "checkout.session.completed", 1, Fact{ID: "cs_1", Kind: KindSession, OrderRef: "ord_1",
		Completed: true, SessionPaid: true, Amount: 3000, Items: []Item{{"c", 1}, {"b", 1}, {"a", 2}}}))
	o := l.order(t, "ord_1")
	if o.Status != StatusPaid || !o.Oversold || len(o.Holds) != 0 {
		t.Fatalf("status %s oversold %t holds %+v, want paid, oversold, none", o.Status, o.Oversold, o.Holds)
	}
	for id, want := range map[string]int64{"a": 5, "b": 0, "c": 2} {
		if s, res := l.stock(t, id); s != want || res != 0 {
			t.Errorf("%s: stock %d reserved %d, want %d 0", id, s, res, want)
		}
	}
}

// A sale tells the work's artist once per address, and the shop's systems
// once, however often the events come; its undoing (a full refund, a lost
// dispute) tells the artist once, and only a sale that was told; an
// oversold order or one a payment did not match tells nobody. In every
// order of the events, no message is written twice.
func TestApplyAnnouncesSalesOnce(t *testing.T) {
	t.Parallel()
	artist := func(l *memLedger) {
		p := l.products["print"]
		p.Name, p.Price, p.Currency = "Les Nymphéas bleus", 1000, "eur"
		p.ArtistEmail, p.ArtistShare = Addresses{"claude@example.com", "atelier@example.com"}, 6000
	}
	disputeLost := tev("evt_dispute_lost", "charge.dispute.closed", 400, Fact{ID: "dp_1", Kind: KindDispute, PaymentIntent: "pi_1",
		Charge: "ch_1", Amount: 1000, Currency: "eur", DisputeStatus: "lost"})
	count := func(l *memLedger) map[string]int {
		got := map[string]int{}
		for _, k := range l.keys {
			m := l.outbox[k]
			switch m.Topic {
			case TopicArtistSale, TopicArtistSaleCancelled, HookProductSold:
				got[m.Topic+" "+m.Recipient]++
			}
		}
		return got
	}
	sold := map[string]int{"artist_sale claude@example.com": 1, "artist_sale atelier@example.com": 1, "product.sold ": 1}
	undone := map[string]int{"artist_sale claude@example.com": 1, "artist_sale atelier@example.com": 1, "product.sold ": 1,
		"artist_sale_cancelled claude@example.com": 1, "artist_sale_cancelled atelier@example.com": 1}
	for _, tt := range []struct {
		name   string
		events []testEvent // in the order Stripe usually sends them
		want   map[string]int
	}{
		{"paid", []testEvent{evCompletedPaid, evPISucceeded}, sold},
		{"paid then partly refunded", []testEvent{evCompletedPaid, evPISucceeded, evRefundPartial}, sold},
		{"paid then refunded", []testEvent{evCompletedPaid, evPISucceeded, evRefundFull}, undone},
		{"paid then dispute lost", []testEvent{evCompletedPaid, evPISucceeded, disputeLost}, undone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, perm := range permutationsOf(len(tt.events)) {
				l := newMemLedger(map[string]int64{"print": 1})
				artist(l)
				r := Rules{RestockOnRefund: true, Now: ticking()}
				natural := true
				for i, k := range perm {
					natural = natural && k == i
					apply(t, r, l, tt.events[k])
					apply(t, r, l, tt.events[k]) // delivered twice
				}
				got := count(l)
				for k, n := range got {
					if n != 1 {
						t.Errorf("order %v: %q written %d times", perm, k, n)
					}
				}
				for _, to := range []string{"claude@example.com", "atelier@example.com"} {
					if got["artist_sale_cancelled "+to] > got["artist_sale "+to] {
						t.Errorf("order %v: a cancellation of a sale never told: %v", perm, got)
					}
				}
				if natural && !reflect.DeepEqual(got, tt.want) {
					t.Errorf("messages %v, want %v", got, tt.want)
				}
				if (tt.name == "paid" || tt.name == "paid then partly refunded") && !reflect.DeepEqual(got, tt.want) {
					t.Errorf("order %v: messages %v, want %v whatever the order", perm, got, tt.want)
				}
				for _, k := range l.keys {
					if m := l.outbox[k]; m.Topic == TopicArtistSale && (m.Payload["share"] != int64(6000) || m.ProductID != "print" || m.OrderID != "ord_1") {
						t.Errorf("the artist's email %+v", m)
					}
				}
			}
		})
	}

	// An oversold order tells no artist: its sale found no unit.
	l := newMemLedger(map[string]int64{"print": 0})
	artist(l)
	r := Rules{RestockOnRefund: true, Now: ticking()}
	apply(t, r, l, evCompletedPaid)
	if got := count(l); len(got) != 0 || !l.order(t, "ord_1").Oversold {
		t.Errorf("an oversold order announced %v", got)
	}
	// Nor one a payment did not match: a stray payment of 0.10 € naming
	// the order, flagged when the order's own session pays it.
	l = newMemLedger(map[string]int64{"print": 1})
	artist(l)
	cheap := tev("evt_cheap", "payment_intent.succeeded", 90, Fact{ID: "pi_cheap", Kind: KindPaymentIntent, OrderRef: "ord_1",
		Succeeded: true, Amount: 10, AmountReceived: 10, Currency: "eur", Created: 200})
	apply(t, r, l, cheap)
	apply(t, r, l, evCompletedPaid)
	if o := l.order(t, "ord_1"); len(count(l)) != 0 || !o.PaymentMismatch || o.Status != StatusPaid {
		t.Errorf("a sale with a mismatched payment announced %v (order %+v)", count(l), o.Order)
	}
}

// permutationsOf returns every ordering of n indexes.
func permutationsOf(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutationsOf(n - 1) {
		for i := 0; i <= len(p); i++ {
			out = append(out, append(append(append([]int{}, p[:i]...), n-1), p[i:]...))
		}
	}
	return out
}

// Each line keeps the name and price it was sold at: from the catalogue
// when the order first gets it, unchanged when the catalogue changes; a
// product priced in another currency gives no price; an unknown product
// reads as such.
func TestSoldLines(t *testing.T) {
	t.Parallel()
	products := map[string]*Product{
		"print": {ID: "print", Name: "Print", Price: 1000, Currency: "eur"},
		"usd":   {ID: "usd", Name: "Dollar print", Price: 2000, Currency: "usd"},
	}
	items := []Item{{"print", 2}, {"usd", 1}, {"gone", 1}}
	lines := SoldLines(items, nil, products, "eur")
	want := []Line{{"print", "Print", 2, 1000}, {"usd", "Dollar print", 1, 0}, {"gone", "", 1, 0}}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("lines %+v, want %+v", lines, want)
	}
	products["print"] = &Product{ID: "print", Name: "Print (new edition)", Price: 5000, Currency: "eur"}
	if again := SoldLines(items, lines, products, "eur"); !reflect.DeepEqual(again, want) {
		t.Errorf("a new catalogue changed the lines as sold: %+v", again)
	}
	if got := DescribeLines(lines, []string{"gone"}, "eur", "en"); got != "2 × Print (€10.00 each); 1 × Dollar print; 1 × gone — product gone is not in the catalogue" {
		t.Errorf("lines read %q", got)
	}
	if got := DescribeLines(lines[:1], nil, "eur", "fr"); got != "2 × Print (10,00\u00a0€ l’unité)" {
		t.Errorf("lines read %q in French", got)
	}
}

// filled returns a value of type t with every field, element and pointer
// set to something not zero, each different from the last (next counts).
func filled(t reflect.Type, next *int) reflect.Value {
	*next++
	n := *next
	v := reflect.New(t).Elem()
	switch {
	case t == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Unix(int64(1_700_000_000+n), 0).UTC()))
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			v.Field(i).Set(filled(t.Field(i).Type, next))
		}
	case t.Kind() == reflect.Pointer:
		v.Set(filled(t.Elem(), next).Addr())
	case t.Kind() == reflect.Slice:
		v.Set(reflect.Append(reflect.MakeSlice(t, 0, 2), filled(t.Elem(), next), filled(t.Elem(), next)))
	case t.Kind() == reflect.Map:
		v.Set(reflect.MakeMap(t))
		v.SetMapIndex(filled(t.Key(), next), filled(t.Elem(), next))
	case t.Kind() == reflect.String:
		v.SetString(fmt.Sprintf("v%d", n))
	case t.Kind() == reflect.Bool:
		v.SetBool(true)
	case v.CanInt():
		v.SetInt(int64(n))
	case v.CanUint():
		v.SetUint(uint64(n))
	case v.CanFloat():
		v.SetFloat(float64(n))
	default:
		panic("filled: no value for " + t.String())
	}
	return v
}

// leaves calls f with the path and value of every field, element and
// pointed-to value under v that is not itself a struct.
func leaves(path string, v reflect.Value, f func(string, reflect.Value)) {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		f(path, v)
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			leaves(path+"."+v.Type().Field(i).Name, v.Field(i), f)
		}
	case v.Kind() == reflect.Pointer:
		f(path, v)
		if !v.IsNil() { // f may have changed it
			leaves(path+"*", v.Elem(), f)
		}
	case v.Kind() == reflect.Slice:
		f(path, v)
		for i := 0; i < v.Len(); i++ {
			leaves(fmt.Sprintf("%s[%d]", path, i), v.Index(i), f)
		}
	default:
		f(path, v)
	}
}

// Whether refresh writes an order is decided by comparing the whole record
// before and after: a change anywhere in it, in any field there is or will
// be, counts, and only UpdatedAt (which the write sets) does not.
func TestOrderRecordSameSeesEveryField(t *testing.T) {
	t.Parallel()
	n := 0
	base := filled(reflect.TypeFor[OrderRecord](), &n).Addr().Interface().(*OrderRecord)
	if !base.same(base.clone()) {
		t.Fatal("a record differs from its copy")
	}
	fields := 0
	leaves("OrderRecord", reflect.ValueOf(base.clone()).Elem(), func(path string, _ reflect.Value) {
		fields++
		c := base.clone()
		// Find the same leaf in the copy and change it.
		leaves("OrderRecord", reflect.ValueOf(c).Elem(), func(p string, v reflect.Value) {
			if p != path {
				return
			}
			switch {
			case v.Type() == reflect.TypeFor[time.Time]():
				v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Second)))
			case v.Kind() == reflect.Pointer:
				v.Set(reflect.Zero(v.Type()))
			case v.Kind() == reflect.Slice:
				v.Set(v.Slice(0, v.Len()-1))
			case v.Kind() == reflect.String:
				v.SetString(v.String() + "!")
			case v.Kind() == reflect.Bool:
				v.SetBool(!v.Bool())
			case v.CanInt():
				v.SetInt(v.Int() + 1)
			case v.CanFloat():
				v.SetFloat(v.Float() + 1)
			default:
				t.Fatalf("%s: no change for a %s", p, v.Type())
			}
		})
		if got, want := base.same(c), path == "OrderRecord.Order.UpdatedAt"; got != want {
			t.Errorf("changing %s: same = %t, want %t", path, got, want)
		}
		if !base.same(base.clone()) {
			t.Fatalf("changing %s in a copy changed the record it was copied from", path)
		}
	})
	if fields < 40 {
		t.Fatalf("only %d fields walked: the test no longer walks the record", fields)
	}

	// What a record read from the database and one derived from facts
	// differ in, without being different.
	a, b := base.clone(), base.clone()
	a.UnknownProducts, b.UnknownProducts = nil, []string{}
	b.CreatedAt = a.CreatedAt.In(time.FixedZone("CET", 3600))
	if !a.same(b) {
		t.Error("a nil and an empty list, or one instant in two zones, count as a change")
	}
}

// An order whose stored record differs from what its facts say, in any
// field refresh derives, is written again; one that does not is not.
func TestApplyWritesAnOrderOnlyWhenItChanged(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"print": 1})
	r := Rules{Now: ticking()}
	apply(t, r, l, evCompletedPaid)
	stored := l.order(t, "ord_1")
	apply(t, r, l, evCompletedPaid)
	if again := l.order(t, "ord_1"); !again.UpdatedAt.Equal(stored.UpdatedAt) {
		t.Fatalf("the same event again wrote the order (updated %s, then %s)", stored.UpdatedAt, again.UpdatedAt)
	}
	for name, tamper := range map[string]func(*OrderRecord){
		"locale":          func(o *OrderRecord) { o.Locale = "xx" },
		"stripe customer": func(o *OrderRecord) { o.StripeCustomer = "cus_other" },
		"customer phone":  func(o *OrderRecord) { o.Customer.Phone = "+33 1 00 00 00 00" },
		"amount paid":     func(o *OrderRecord) { o.AmountPaid = 1 },
		"unknown":         func(o *OrderRecord) { o.UnknownProducts = []string{"ghost"} },
	} {
		o := l.order(t, "ord_1").clone()
		tamper(o)
		l.orders["ord_1"] = o
		apply(t, r, l, evCompletedPaid)
		if o := l.order(t, "ord_1"); !o.same(stored) || o.UpdatedAt.Equal(stored.UpdatedAt) {
			t.Errorf("%s: the order was not written back as its facts say: %+v", name, o)
		}
		stored = l.order(t, "ord_1")
	}
}
