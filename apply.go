package caisse

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// LinkedFact is a stored fact and the order it is linked to ("" while none).
type LinkedFact struct {
	Fact
	OrderID string
}

// FactService reads the facts caisse keeps, for the owner's pages.
type FactService interface {
	// FindFact returns the fact stored for a Stripe object (its state after
	// every event about it so far) and the order it is linked to.
	FindFact(ctx context.Context, id string) (*LinkedFact, error)
}

// OrderRecord is an order as stored, with the units it holds.
type OrderRecord struct {
	Order
	// Holds are the units of stock the order holds right now.
	Holds []Hold
	// CheckoutItems are the lines of a caisse checkout, with the names and
	// prices it charged, which win over metadata.
	CheckoutItems []Line
	// StripeCustomer is the Stripe customer (cus_…) the order's payment
	// names: with a secret key, its email is the customer's address when
	// no event brings one.
	StripeCustomer string
	// CheckoutURL is the Stripe page where the customer pays the caisse
	// checkout, while it is open: the way back after a declined card.
	CheckoutURL string
	// SalesTold are the products whose sale on this order was announced
	// (to the artist, to the shop's systems), so that its cancellation is
	// announced too, and only then.
	SalesTold []string
	// CheckoutOpen is true while a caisse checkout for the order is open.
	CheckoutOpen bool
	// CheckoutExpiresAt is when the caisse checkout's session expires.
	CheckoutExpiresAt time.Time
	// CheckoutTerms are the amount, currency and mode caisse's checkout
	// asked for; zero for an order caisse's checkout did not open.
	CheckoutTerms Terms
}

// Terms returns the terms caisse's checkout fixed for the order, or nil when
// its facts set them.
func (o *OrderRecord) Terms() *Terms {
	if len(o.CheckoutItems) == 0 || o.CheckoutTerms.Currency == "" {
		return nil
	}
	t := o.CheckoutTerms
	return &t
}

// clone returns a copy of the record that shares nothing with it.
func (o *OrderRecord) clone() *OrderRecord {
	c := copyValue(reflect.ValueOf(o).Elem()).Interface().(OrderRecord)
	return &c
}

// same reports whether two records hold the same values, every field of
// each compared: times are the same instant, and a nil slice or map is the
// same as an empty one (which is all a record loaded from the database and
// one derived from facts differ in). UpdatedAt, which a write sets, is not
// compared.
func (o *OrderRecord) same(other *OrderRecord) bool {
	a, b := *o, *other
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	return sameValue(reflect.ValueOf(a), reflect.ValueOf(b))
}

var timeType = reflect.TypeFor[time.Time]()

// copyValue returns a deep copy of v: its slices, maps and pointers are new.
func copyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(copyValue(v.Elem()))
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(copyValue(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			c.SetMapIndex(it.Key(), copyValue(it.Value()))
		}
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		if v.Type() == timeType {
			return c
		}
		for i := range v.NumField() {
			if c.Field(i).CanSet() {
				c.Field(i).Set(copyValue(v.Field(i)))
			}
		}
		return c
	case reflect.Interface, reflect.Func, reflect.Chan:
		// A record holds none of these: a copy would share them.
		panic(fmt.Sprintf("caisse: cannot copy a %s", v.Type()))
	}
	return v
}

// sameValue compares a and b, of the same type, as OrderRecord.same does.
func sameValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Struct:
		if a.Type() == timeType {
			return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
		}
		for i := range a.NumField() {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for it := a.MapRange(); it.Next(); {
			if v := b.MapIndex(it.Key()); !v.IsValid() || !sameValue(it.Value(), v) {
				return false
			}
		}
		return true
	case reflect.Interface, reflect.Func, reflect.Chan:
		panic(fmt.Sprintf("caisse: cannot compare a %s", a.Type()))
	}
	return a.Equal(b)
}

// Ledger is one open transaction of a store, offering what the processing
// rules need. Every method runs inside that transaction.
type Ledger interface {
	// Lock takes transaction-long locks on Stripe object ids, so concurrent
	// transactions about connected objects run one after the other. It must
	// be called on an id before reading the facts stored under or about it.
	Lock(ctx context.Context, ids []string) error
	// Facts returns the stored facts with these object ids.
	Facts(ctx context.Context, ids []string) ([]LinkedFact, error)
	// Connected returns, in one lookup, the stored facts with these object
	// ids and those whose payment intent or charge is one of ids.
	Connected(ctx context.Context, ids []string) ([]LinkedFact, error)
	// OrderFacts returns the facts linked to an order.
	OrderFacts(ctx context.Context, orderID string) ([]Fact, error)
	// PutFact stores a fact and its link, replacing what was there.
	PutFact(ctx context.Context, f LinkedFact) error
	// LockOrder returns the order, locked for the rest of the transaction, or
	// nil when there is none yet.
	LockOrder(ctx context.Context, id string) (*OrderRecord, error)
	// PutOrder creates or updates an order and its holds.
	PutOrder(ctx context.Context, o *OrderRecord) error
	// AddTimeline records a status change of an order.
	AddTimeline(ctx context.Context, orderID string, e TimelineEntry) error
	// Products returns the products of the catalogue among ids, by id:
	// what the rules say of a sale (name, price, artist). A product that
	// does not exist is not in the map.
	Products(ctx context.Context, ids []string) (map[string]*Product, error)
	// MoveStock applies one stock move with a conditional update. When the move
	// takes units (m.Takes()), it succeeds only if stock stays ≥ 0 and, for the
	// units it needs (m.Need()), that many are available. It reports whether
	// the move was applied and the product's available units after it.
	MoveStock(ctx context.Context, m StockMove) (ok bool, available int64, err error)
	// AddOutbox writes a message unless one with its key exists.
	AddOutbox(ctx context.Context, m OutboxMessage) error
	// AddBalance merges balance transactions into the books; one known by
	// its id only is asked of Stripe after the transaction commits.
	AddBalance(ctx context.Context, txns []BalanceTransaction) error
	// AddPayout merges a payout into the books; an automatic one has the
	// transactions it carried listed after the transaction commits.
	AddPayout(ctx context.Context, p Payout) error
	// LookUpRefunds has the refunds of a charge, and their balance
	// transactions, asked of Stripe after the transaction commits.
	LookUpRefunds(ctx context.Context, charge string) error
}

// Rules turns facts into orders and stock.
type Rules struct {
	// RestockOnRefund puts a fully refunded order's units back in stock.
	RestockOnRefund bool
	// RefundOversold asks Stripe to refund the payment of an order flagged
	// oversold (CAISSE_OVERSOLD_POLICY=refund); otherwise it is only flagged
	// and the team alerted.
	RefundOversold bool
	// RefundMismatch asks Stripe to refund a payment that does not pay its
	// order (CAISSE_MISMATCH_POLICY=refund); otherwise the order is only
	// flagged payment_mismatch and the team alerted.
	RefundMismatch bool
	// RefundFraud asks Stripe to refund a payment a card issuer warned is
	// fraud, before it becomes a dispute (CAISSE_FRAUD_POLICY=refund);
	// otherwise the warning is recorded on the order and the team alerted.
	RefundFraud bool
	// ShipmentsToStripe gives Stripe the carrier and tracking number of
	// each order shipped (caisse has a secret key).
	ShipmentsToStripe bool
	// Now returns the current time.
	Now func() time.Time
}

// Outcome is what applying an event changed.
type Outcome struct {
	// OrderID is the order the event's objects are linked to ("" while none).
	OrderID string
	// Orders are the orders the event touched, sorted.
	Orders []string
	// Transitions are the status changes it caused.
	Transitions []Transition
	// Oversold lists the orders that found no stock for their sale.
	Oversold []string
	// Mismatched lists the orders that were newly flagged payment_mismatch.
	Mismatched []string
	// Ignored, when set, says why the event counts for nothing: it is of the
	// other mode than the order it names.
	Ignored string
}

// Transition is one order's change of status.
type Transition struct {
	OrderID  string
	From, To OrderStatus
}

// Apply merges an event's facts into the ledger and brings every affected
// order, its holds and the stock up to date. It is idempotent: applying the
// same facts again changes nothing.
func (r Rules) Apply(ctx context.Context, l Ledger, ev *Event, ef EventFacts) (Outcome, error) {
	var out Outcome
	if len(ef.Balance) > 0 {
		if err := l.AddBalance(ctx, ef.Balance); err != nil {
			return out, err
		}
	}
	for _, charge := range ef.RefundsOf {
		if err := l.LookUpRefunds(ctx, charge); err != nil {
			return out, err
		}
	}
	if ef.Payout != nil {
		if err := l.AddPayout(ctx, *ef.Payout); err != nil {
			return out, err
		}
		if ef.Payout.Status == "failed" {
			if err := l.AddOutbox(ctx, PayoutFailedMessage(*ef.Payout)); err != nil {
				return out, err
			}
		}
	}
	if len(ef.Facts) == 0 {
		return out, nil
	}
	affected := map[string]bool{}

	// Lock each object's payment intent first: events about one payment all
	// share it, so they queue on that one lock instead of taking several in
	// different orders and deadlocking. Then lock the objects themselves.
	var anchors []string
	for _, f := range ef.Facts {
		anchors = append(anchors, cmp.Or(f.PaymentIntent, f.Charge, f.ID))
	}
	if err := l.Lock(ctx, anchors); err != nil {
		return out, err
	}
	if err := l.Lock(ctx, ef.ObjectIDs()); err != nil {
		return out, err
	}

	// Merge each fact into what is stored.
	stored, err := l.Facts(ctx, ef.ObjectIDs())
	if err != nil {
		return out, err
	}
	byID := map[string]LinkedFact{}
	for _, f := range stored {
		byID[f.ID] = f
	}
	for _, f := range ef.Facts {
		cur, ok := byID[f.ID]
		if ok {
			if cur.Kind != f.Kind {
				// Stripe ids name one object each: an event that says a
				// charge is a session is nonsense, and merging it would
				// change what caisse knows of the charge.
				return out, Errorf(EINVALID, "%s event %s says %s is a %s, but caisse knows it as a %s, so caisse applies nothing of it; check where it came from",
					ev.Type, ev.ID, f.ID, f.Kind, cur.Kind)
			}
			cur.Merge(f)
		} else {
			cur = LinkedFact{Fact: f}
		}
		byID[f.ID] = cur
		if err := l.PutFact(ctx, cur); err != nil {
			return out, err
		}
		if cur.OrderID != "" {
			affected[cur.OrderID] = true
		}
	}

	// Link every fact connected to these objects to one order.
	component, err := r.component(ctx, l, ef.ObjectIDs())
	if err != nil {
		return out, err
	}
	orderID := LinkOrder(factsOf(component))
	for _, f := range component {
		if f.OrderID == orderID {
			continue
		}
		if f.OrderID != "" {
			affected[f.OrderID] = true
		}
		f.OrderID = orderID
		if err := l.PutFact(ctx, f); err != nil {
			return out, err
		}
	}
	if orderID != "" {
		affected[orderID] = true
	}
	out.OrderID = orderID

	for id := range affected {
		out.Orders = append(out.Orders, id)
	}
	slices.Sort(out.Orders)
	// Refresh the orders that lost facts to orderID first, so the units they
	// release are back in stock before orderID takes them.
	refreshOrder := slices.Clone(out.Orders)
	if i := slices.Index(refreshOrder, orderID); i >= 0 {
		refreshOrder = append(slices.Delete(refreshOrder, i, i+1), orderID)
	}
	var order *OrderRecord
	var foreign []string
	for _, id := range refreshOrder {
		rec, s, err := r.refresh(ctx, l, ev, id, &out)
		if err != nil {
			return out, err
		}
		if id == orderID {
			order, foreign = rec, s.Foreign
		}
	}
	// A failed payment attempt notifies the customer, once per attempt (the
	// outbox key carries the event id), even though the order goes on; never
	// for a payment the money rules say is not the order's (a stranger's
	// Payment Link session naming it, a short payment, an event of the
	// order's other mode), whose customer is someone else.
	for _, f := range ef.Facts {
		if len(f.FailedAttempts) == 0 || order == nil || out.Ignored != "" || slices.Contains(foreign, f.ID) ||
			slices.Contains(order.MismatchedPayments, f.ID) {
			continue
		}
		for _, m := range paymentFailedMessages(order.ID, f, ev) {
			if err := l.AddOutbox(ctx, m); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

func factsOf(lf []LinkedFact) []Fact {
	out := make([]Fact, len(lf))
	for i, f := range lf {
		out[i] = f.Fact
	}
	return out
}

// component returns every stored fact connected to the given objects through
// payment intent and charge references.
func (r Rules) component(ctx context.Context, l Ledger, ids []string) ([]LinkedFact, error) {
	seen := map[string]bool{}
	found := map[string]LinkedFact{}
	frontier := slices.Clone(ids)
	for len(frontier) > 0 {
		var next []string
		for _, id := range frontier {
			seen[id] = true
		}
		if err := l.Lock(ctx, frontier); err != nil {
			return nil, err
		}
		connected, err := l.Connected(ctx, frontier)
		if err != nil {
			return nil, err
		}
		for _, f := range connected {
			if _, ok := found[f.ID]; ok {
				continue
			}
			found[f.ID] = f
			for _, ref := range []string{f.ID, f.PaymentIntent, f.Charge} {
				if ref != "" && !seen[ref] && !slices.Contains(next, ref) {
					next = append(next, ref)
				}
			}
		}
		frontier = next
	}
	out := make([]LinkedFact, 0, len(found))
	for _, f := range found {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b LinkedFact) int {
		if a.ID < b.ID {
			return -1
		} else if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}

// LinkOrder returns the order a connected group of facts belongs to: the
// smallest order id any of them names, else the smallest checkout session id,
// else "" (not linkable yet). It depends only on the set of facts.
func LinkOrder(facts []Fact) string {
	var ref, session string
	for _, f := range facts {
		ref = minNonEmpty(ref, f.OrderRef)
		if f.Kind == KindSession {
			session = minNonEmpty(session, f.ID)
		}
	}
	if ref != "" {
		return ref
	}
	return session
}

// refresh recomputes one order from its facts and moves stock to match. It
// returns the order, or nil when there is none, and the summary of its facts.
func (r Rules) refresh(ctx context.Context, l Ledger, ev *Event, id string, out *Outcome) (*OrderRecord, Summary, error) {
	now := r.Now().UTC()
	rec, err := l.LockOrder(ctx, id)
	if err != nil {
		return nil, Summary{}, err
	}
	facts, err := l.OrderFacts(ctx, id)
	if err != nil {
		return nil, Summary{}, err
	}
	if rec == nil {
		if len(facts) == 0 {
			return nil, Summary{}, nil
		}
		rec = &OrderRecord{Order: Order{ID: id, Status: StatusPending, CreatedAt: now}}
	}
	// What the order was, to tell whether the refresh changed it: the
	// helpers below change rec in place (flags, the sales told).
	before := rec.clone()
	s := Summarize(facts, rec.Terms())
	if s.CustomerEmail == "" && len(rec.CheckoutItems) > 0 {
		// The address the shop gave caisse's checkout, until Stripe's events
		// bring the customer's own.
		s.CustomerEmail = rec.CustomerEmail
	}
	failedBefore := rec.FailedAttempts
	if id == out.OrderID && ev.Livemode != s.Livemode {
		out.Ignored = fmt.Sprintf("a %s event for %s order %s: it never counts for that order", modeName(ev.Livemode), modeName(s.Livemode), id)
	}
	from, wasOversold, wasMismatched, heldBefore := rec.Status, rec.Oversold, slices.Clone(rec.MismatchedPayments), rec.Holds
	if err := r.flagMismatches(ctx, l, rec, s, ev, out); err != nil {
		return nil, s, err
	}
	items, sold := s.Items, rec.Items
	if len(rec.CheckoutItems) > 0 {
		items, sold = ItemsOf(rec.CheckoutItems), rec.CheckoutItems
	}

	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.ProductID)
	}
	products, err := l.Products(ctx, ids)
	if err != nil {
		return nil, s, err
	}
	lines := SoldLines(items, sold, products, s.Currency)
	var held []Item
	var unknown []string
	for _, it := range items {
		if products[it.ProductID] != nil {
			held = append(held, it)
		} else if !slices.Contains(unknown, it.ProductID) {
			unknown = append(unknown, it.ProductID)
		}
	}
	slices.Sort(unknown)
	// The owner's refunds Stripe's refunded amount now confirms: the units
	// of those that restock leave the order's hold, partial refund or not.
	// What is returned is a function of the refunds confirmed, which only
	// grow, so a unit goes back to stock once whatever order the events
	// come in.
	confirmed := ConfirmRefunds(rec.RefundsRequested, s.AmountRefunded)
	held = withoutReturned(held, ReturnedUnits(rec.RefundsRequested))

	kind := Holding(HoldingStatus(s.Status, s.AmountPaid, s.AmountRefunded), rec.CheckoutOpen, r.RestockOnRefund)
	if rec.Oversold {
		kind = HoldNone
	}
	want := WantedHolds(held, kind)
	ok, err := r.move(ctx, l, id, ev, rec.Holds, want)
	if err != nil {
		return nil, s, err
	}
	if !ok {
		// No units for this order: release whatever it held. A failed sale
		// flags the order for good; a failed reservation just holds nothing.
		want = nil
		if _, err := r.move(ctx, l, id, ev, rec.Holds, nil); err != nil {
			return nil, s, err
		}
		if kind == HoldSold {
			rec.Oversold = true
			out.Oversold = append(out.Oversold, id)
			refund := r.RefundOversold && s.PaymentIntent != ""
			msgs := []OutboxMessage{
				AlertMessage(id, TopicOversold, id, OversoldAlert(s.alertOrder(id), s.PaymentIntent, lines, unknown, refund)),
				{Key: "webhook:" + HookOrderOversold + ":" + id, Channel: ChannelWebhook, Topic: HookOrderOversold, OrderID: id},
			}
			if refund {
				msgs = append(msgs, OutboxMessage{Key: "stripe:" + KindRefundOversold + ":" + id, Channel: ChannelStripe, Topic: KindRefundOversold,
					OrderID: id, Payload: map[string]any{"order_id": id, "payment_intent": s.PaymentIntent}})
			}
			for _, m := range msgs {
				if err := l.AddOutbox(ctx, m); err != nil {
					return nil, s, err
				}
			}
		}
	}

	warned := s.FraudWarning != nil && (rec.FraudWarning == nil || rec.FraudWarning.ID != s.FraudWarning.ID)
	if warned {
		if err := r.warnFraud(ctx, l, rec, s, facts); err != nil {
			return nil, s, err
		}
	}

	customer := Customer{Name: s.CustomerName, Email: s.CustomerEmail, Phone: s.CustomerPhone}
	if err := r.announceSales(ctx, l, rec, heldBefore, want, s.Status, products, lines); err != nil {
		return nil, s, err
	}

	rec.Status = s.Status
	rec.Items = lines
	rec.Holds = want
	rec.Currency, rec.CustomerEmail, rec.Livemode, rec.Locale = s.Currency, s.CustomerEmail, s.Livemode, s.Locale
	rec.Customer, rec.FailedAttempts, rec.StripeCustomer = customer, s.FailedAttempts, s.StripeCustomer
	rec.Shipping = s.Shipping
	rec.AmountShipping, rec.AmountTax, rec.AmountDiscount = s.AmountShipping, s.AmountTax, s.AmountDiscount
	rec.AmountTotal, rec.AmountDue, rec.AmountPaid, rec.AmountRefunded = s.AmountTotal, s.AmountDue, s.AmountPaid, s.AmountRefunded
	rec.CheckoutSession, rec.PaymentIntent, rec.PaymentError = s.CheckoutSession, s.PaymentIntent, s.PaymentError
	rec.Dispute = s.Dispute
	rec.FraudWarning = s.FraudWarning
	rec.UnknownProducts = unknown
	rec.ItemsError = s.ItemsError
	// Written only if it changed: the whole record is compared, so a field
	// added to it is compared too. A new order has never been written.
	if !before.UpdatedAt.IsZero() && before.same(rec) {
		return rec, s, nil
	}
	rec.UpdatedAt = now
	if err := l.PutOrder(ctx, rec); err != nil {
		return nil, s, err
	}
	// What the change did besides the status, as the timeline says it: a
	// declined attempt (which changes no status, but the owner sees it with
	// the bank's answer), a sale that found no stock, a payment that does
	// not pay the order.
	var notes []string
	if s.FailedAttempts > failedBefore {
		notes = append(notes, "payment declined: "+cmpOr(s.PaymentError, "the payment failed"))
	}
	if rec.Oversold && !wasOversold {
		notes = append(notes, "oversold: paid, but no stock was left for it")
	}
	if len(rec.MismatchedPayments) > len(wasMismatched) {
		notes = append(notes, "payment mismatch: a payment does not pay the order")
	}
	if warned {
		note := "early fraud warning: the card issuer reports " + cmpOr(s.FraudWarning.FraudType, "fraud")
		if r.RefundFraud {
			note += "; caisse is refunding the payment"
		}
		notes = append(notes, note)
	}
	for _, x := range confirmed {
		notes = append(notes, RefundNote(x, s.Currency, "confirmed by Stripe"))
	}
	note := strings.Join(notes, "; ")
	if from == s.Status {
		if note != "" {
			return rec, s, l.AddTimeline(ctx, id, TimelineEntry{At: now, EventID: ev.ID, Type: ev.Type, From: from, To: s.Status,
				Stock: StockMoves(heldBefore, want), Note: note})
		}
		return rec, s, nil
	}
	out.Transitions = append(out.Transitions, Transition{OrderID: id, From: from, To: s.Status})
	entry := TimelineEntry{At: now, EventID: ev.ID, Type: ev.Type, From: from, To: s.Status, Stock: StockMoves(heldBefore, want), Note: note}
	if err := l.AddTimeline(ctx, id, entry); err != nil {
		return nil, s, err
	}
	for _, m := range transitionMessages(rec, from, ev) {
		if err := l.AddOutbox(ctx, m); err != nil {
			return nil, s, err
		}
	}
	return rec, s, nil
}

// flagMismatches flags the order payment_mismatch for each payment taken
// for it that does not pay it and was not flagged before: an alert, and by
// policy a refund of that payment. The flag stays once set.
func (r Rules) flagMismatches(ctx context.Context, l Ledger, rec *OrderRecord, s Summary, ev *Event, out *Outcome) error {
	var flagged bool
	for _, m := range s.Mismatches {
		if slices.Contains(rec.MismatchedPayments, m.ID) {
			continue
		}
		refund := r.RefundMismatch && m.PaymentIntent != ""
		rec.MismatchedPayments = append(rec.MismatchedPayments, m.ID)
		rec.PaymentMismatch, flagged = true, true
		msgs := []OutboxMessage{
			AlertMessage(rec.ID+":"+m.ID, TopicPaymentMismatch, rec.ID, MismatchAlert(s.alertOrder(rec.ID), m, refund)),
			{Key: "webhook:" + HookOrderMismatch + ":" + rec.ID + ":" + m.ID, Channel: ChannelWebhook, Topic: HookOrderMismatch, OrderID: rec.ID},
		}
		if refund {
			msgs = append(msgs, OutboxMessage{Key: "stripe:" + KindRefundMismatch + ":" + rec.ID + ":" + m.PaymentIntent, Channel: ChannelStripe,
				Topic: KindRefundMismatch, OrderID: rec.ID, Payload: map[string]any{"order_id": rec.ID, "payment_intent": m.PaymentIntent}})
		}
		for _, msg := range msgs {
			if err := l.AddOutbox(ctx, msg); err != nil {
				return err
			}
		}
	}
	if flagged {
		slices.Sort(rec.MismatchedPayments)
		out.Mismatched = append(out.Mismatched, rec.ID)
	}
	return nil
}

// warnFraud tells the team of an early fraud warning on the order's
// payment (the order, the amount and what the issuer reported, never who
// paid) and, by policy, asks Stripe to refund the payment before it
// becomes a dispute: once per charge, whatever delivers the warning again.
func (r Rules) warnFraud(ctx context.Context, l Ledger, rec *OrderRecord, s Summary, facts []Fact) error {
	w := s.FraudWarning
	// The payment to refund: the one the warning names, else its charge's,
	// else the order's.
	var pi string
	for _, f := range facts {
		if f.ID == w.ID && f.PaymentIntent != "" {
			pi = f.PaymentIntent
		}
	}
	for _, f := range facts {
		if pi == "" && f.Kind == KindCharge && f.ID == w.Charge {
			pi = f.PaymentIntent
		}
	}
	pi = cmpOr(pi, s.PaymentIntent)
	refund := r.RefundFraud && pi != ""
	msgs := []OutboxMessage{AlertMessage(rec.ID+":"+w.ID, TopicFraudWarning, rec.ID, FraudWarningAlert(s.alertOrder(rec.ID), *w, pi, refund))}
	if refund {
		key := w.Charge
		if key == "" {
			key = pi
		}
		msgs = append(msgs, OutboxMessage{Key: "stripe:" + KindRefundFraud + ":" + key, Channel: ChannelStripe, Topic: KindRefundFraud,
			OrderID: rec.ID, Payload: map[string]any{"order_id": rec.ID, "payment_intent": pi, "charge": w.Charge, "warning": w.ID}})
	}
	for _, m := range msgs {
		if err := l.AddOutbox(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func modeName(live bool) string {
	if live {
		return "live-mode"
	}
	return "test-mode"
}

// move applies the stock moves from one set of holds to another. If a move
// that takes units fails, it undoes the moves already made and reports false.
func (r Rules) move(ctx context.Context, l Ledger, orderID string, ev *Event, from, to []Hold) (bool, error) {
	moves := StockMoves(from, to)
	for i, m := range moves {
		ok, available, err := l.MoveStock(ctx, m)
		if err != nil {
			return false, err
		}
		if !ok {
			for _, done := range moves[:i] {
				undo := StockMove{ProductID: done.ProductID, Reserved: -done.Reserved, Sold: -done.Sold}
				if _, _, err := l.MoveStock(ctx, undo); err != nil {
					return false, err
				}
			}
			return false, nil
		}
		// Tell the shop's site when a product sells out or comes back.
		before := available + m.Need()
		if (before > 0) != (available > 0) {
			for _, msg := range availabilityMessages(m.ProductID, orderID, ev, available > 0) {
				if err := l.AddOutbox(ctx, msg); err != nil {
					return false, err
				}
			}
		}
	}
	return true, nil
}

// OpenCheckout reserves the units of a new order's caisse checkout and
// stores the order. It returns the products that lack units; then it has
// stored nothing that should be kept, and the caller rolls back.
func (r Rules) OpenCheckout(ctx context.Context, l Ledger, rec *OrderRecord) ([]string, error) {
	ev := &Event{ID: "checkout:" + rec.ID, Type: "caisse.checkout_opened"}
	want := WantedHolds(ItemsOf(rec.CheckoutItems), HoldReserved)
	var unavailable []string
	for _, h := range want {
		// One product at a time, to name every product that lacks units.
		ok, err := r.move(ctx, l, rec.ID, ev, nil, []Hold{h})
		if err != nil {
			return nil, err
		}
		if !ok {
			unavailable = append(unavailable, h.ProductID)
		}
	}
	if len(unavailable) > 0 {
		return unavailable, nil
	}
	rec.Holds = want
	if err := l.PutOrder(ctx, rec); err != nil {
		return nil, err
	}
	return nil, l.AddTimeline(ctx, rec.ID, TimelineEntry{At: rec.CreatedAt, Type: ev.Type, To: rec.Status, Stock: StockMoves(nil, want)})
}

// CloseCheckout ends an order's caisse checkout whose session expired
// without any event saying so (the sweep), releasing the units it reserved.
// An order that was paid meanwhile keeps its units: only a reservation
// depends on the checkout being open. It reports whether the order changed.
func (r Rules) CloseCheckout(ctx context.Context, l Ledger, ev *Event, id string) (bool, error) {
	rec, err := l.LockOrder(ctx, id)
	if err != nil || rec == nil || !rec.CheckoutOpen {
		return false, err
	}
	rec.CheckoutOpen = false
	kind := Holding(HoldingStatus(rec.Status, rec.AmountPaid, rec.AmountRefunded), false, r.RestockOnRefund)
	if rec.Oversold {
		kind = HoldNone
	}
	var held []Item
	for _, it := range rec.Items {
		if !slices.Contains(rec.UnknownProducts, it.ProductID) {
			held = append(held, it.Item())
		}
	}
	want := WantedHolds(withoutReturned(held, ReturnedUnits(rec.RefundsRequested)), kind)
	ok, err := r.move(ctx, l, id, ev, rec.Holds, want)
	if err != nil {
		return false, err
	}
	if !ok {
		// Only a sale takes units, and a sale does not depend on the checkout.
		return false, fmt.Errorf("error closing the checkout of order %s: its units moved unexpectedly", id)
	}
	rec.Holds = want
	rec.UpdatedAt = r.Now().UTC()
	return true, l.PutOrder(ctx, rec)
}
