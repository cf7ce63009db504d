package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
)

// View is one write transaction as the processing rules see it (a
// caisse.Ledger): what they read is loaded in a few set-based reads, kept
// in memory, and what they change is written back by Flush with a few
// set-based statements. Load, decide, write: the rules stay pure, and the
// database hears a handful of statements per batch instead of a dozen per
// event.
//
// A View loads what the rules ask for when they ask, so it is right
// without any preloading; Preload fills it for a whole batch at once, so
// that it rarely has to.
//
// Changes made for one event can be undone (Undo) without touching what
// the batch's other events changed: one event's failure stays its own.
type View struct {
	store *Store
	tx    Tx
	now   time.Time

	facts    map[string]*caisse.LinkedFact // by id; nil: known not to exist
	byPI     map[string]map[string]bool    // payment intent → ids of the facts that name it
	byCharge map[string]map[string]bool    // charge → ids of the facts that name it
	byOrder  map[string]map[string]bool    // order → ids of the facts linked to it
	// expanded are the ids whose connected facts (the fact itself, and those
	// naming it as payment intent or charge) are all in the view.
	expanded map[string]bool
	// orderFacts are the orders whose linked facts are all in the view.
	orderFacts map[string]bool
	orders     map[string]*caisse.OrderRecord // nil: known not to exist
	products   map[string]*stock              // nil: known not to exist
	locked     map[string]bool
	// unaddressed are the stored orders that had no customer address when
	// the view read them: their emails may wait for one (see Flush).
	unaddressed map[string]bool

	dirtyFacts, dirtyOrders, dirtyProducts map[string]bool
	timeline                               []timelineRow
	outbox                                 []caisse.OutboxMessage
	// balance and payouts are the books' changes, merged at Flush.
	balance []caisse.BalanceTransaction
	payouts []caisse.Payout
	refunds []string // charges whose refunds are asked of Stripe
	undoLog []func()
	// eventID is the event whose changes are being made (see Mark): the
	// outbox rows they write name it.
	eventID string
}

// stock is a product's units, as the rules move them, and what the
// catalogue says of it.
type stock struct {
	stock, reserved int64
	product         *caisse.Product
}

type timelineRow struct {
	orderID string
	entry   caisse.TimelineEntry
}

func (s *Store) NewView(tx Tx) *View {
	return &View{
		store: s, tx: tx, now: s.now(),
		facts: map[string]*caisse.LinkedFact{}, byPI: map[string]map[string]bool{}, byCharge: map[string]map[string]bool{},
		byOrder: map[string]map[string]bool{}, expanded: map[string]bool{}, orderFacts: map[string]bool{},
		orders: map[string]*caisse.OrderRecord{}, products: map[string]*stock{}, locked: map[string]bool{}, unaddressed: map[string]bool{},
		dirtyFacts: map[string]bool{}, dirtyOrders: map[string]bool{}, dirtyProducts: map[string]bool{},
	}
}

var _ caisse.Ledger = (*View)(nil)

// --- loading -------------------------------------------------------------

// lock takes the locks of keys not held yet, in one statement.
func (v *View) lock(ctx context.Context, keys []string) error {
	need := missing(keys, func(k string) bool { return v.locked[k] })
	if len(need) == 0 {
		return nil
	}
	if err := v.tx.Lock(ctx, need...); err != nil {
		return err
	}
	for _, k := range need {
		v.locked[k] = true
	}
	return nil
}

// addFact puts a fact read from the database in the view, unless the view
// has one already (the view's is as new or newer).
func (v *View) addFact(f caisse.LinkedFact) {
	if cur, ok := v.facts[f.ID]; ok && cur != nil {
		return
	}
	v.index(&f)
	v.facts[f.ID] = &f
}

func addTo(m map[string]map[string]bool, key, id string) {
	if key == "" {
		return
	}
	if m[key] == nil {
		m[key] = map[string]bool{}
	}
	m[key][id] = true
}

func (v *View) index(f *caisse.LinkedFact) {
	addTo(v.byPI, f.PaymentIntent, f.ID)
	addTo(v.byCharge, f.Charge, f.ID)
	addTo(v.byOrder, f.OrderID, f.ID)
}

func (v *View) unindex(f *caisse.LinkedFact) {
	delete(v.byPI[f.PaymentIntent], f.ID)
	delete(v.byCharge[f.Charge], f.ID)
	delete(v.byOrder[f.OrderID], f.ID)
}

// readFacts runs a query of (order_id, data) rows and puts the facts in the view.
func (v *View) readFacts(ctx context.Context, query string, args ...any) error {
	rows, err := v.tx.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("error reading facts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var lf caisse.LinkedFact
		var data string
		if err := rows.Scan(&lf.OrderID, &data); err != nil {
			return fmt.Errorf("error reading facts: %w", err)
		}
		if err := json.Unmarshal([]byte(data), &lf.Fact); err != nil {
			return fmt.Errorf("error reading facts: %w", err)
		}
		v.addFact(lf)
	}
	return rows.Err()
}

// loadFacts reads the facts of ids the view does not know yet.
func (v *View) loadFacts(ctx context.Context, ids []string) error {
	need := missing(ids, func(id string) bool { _, ok := v.facts[id]; return ok })
	for chunk := range slices.Chunk(need, maxParams) {
		if err := v.readFacts(ctx, `SELECT order_id, data FROM facts WHERE id IN (`+placeholders(len(chunk))+`)`, anys(chunk)...); err != nil {
			return err
		}
		for _, id := range chunk {
			if _, ok := v.facts[id]; !ok {
				v.facts[id] = nil
			}
		}
	}
	return nil
}

// expand reads every fact connected to ids (the facts themselves, and
// those naming them as payment intent or charge) that the view lacks.
func (v *View) expand(ctx context.Context, ids []string) error {
	need := missing(ids, func(id string) bool { return v.expanded[id] })
	for chunk := range slices.Chunk(need, maxParams/3) {
		p, args := placeholders(len(chunk)), anys(chunk)
		// A UNION, not ORs: each part uses its own index (SQLite scans the
		// table for the OR form).
		if err := v.readFacts(ctx, `SELECT order_id, data FROM facts WHERE id IN (`+p+`)
			UNION SELECT order_id, data FROM facts WHERE payment_intent IN (`+p+`)
			UNION SELECT order_id, data FROM facts WHERE charge IN (`+p+`)`,
			append(append(args, args...), args...)...); err != nil {
			return err
		}
		for _, id := range chunk {
			v.expanded[id] = true
			if _, ok := v.facts[id]; !ok {
				v.facts[id] = nil
			}
		}
	}
	return nil
}

// loadOrderFacts reads the facts linked to orders whose facts the view does
// not all hold yet.
func (v *View) loadOrderFacts(ctx context.Context, orderIDs []string) error {
	need := missing(orderIDs, func(id string) bool { return v.orderFacts[id] })
	for chunk := range slices.Chunk(need, maxParams) {
		if err := v.readFacts(ctx, `SELECT order_id, data FROM facts WHERE order_id IN (`+placeholders(len(chunk))+`)`, anys(chunk)...); err != nil {
			return err
		}
		for _, id := range chunk {
			v.orderFacts[id] = true
		}
	}
	return nil
}

// loadOrders locks and reads orders the view does not know yet.
func (v *View) loadOrders(ctx context.Context, ids []string) error {
	need := missing(ids, func(id string) bool { _, ok := v.orders[id]; return ok })
	if len(need) == 0 {
		return nil
	}
	keys := make([]string, len(need))
	for i, id := range need {
		keys[i] = "order:" + id
	}
	if err := v.lock(ctx, keys); err != nil {
		return fmt.Errorf("error locking orders: %w", err)
	}
	for chunk := range slices.Chunk(need, maxParams) {
		rows, err := v.tx.Query(ctx, `SELECT `+orderColumns+` FROM orders WHERE id IN (`+placeholders(len(chunk))+`)`, anys(chunk)...)
		if err != nil {
			return fmt.Errorf("error reading orders: %w", err)
		}
		for rows.Next() {
			o, err := scanOrder(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("error reading orders: %w", err)
			}
			v.orders[o.ID] = o
			if o.CustomerEmail == "" {
				v.unaddressed[o.ID] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("error reading orders: %w", err)
		}
		for _, id := range chunk {
			if _, ok := v.orders[id]; !ok {
				v.orders[id] = nil
			}
		}
	}
	return nil
}

// loadProducts locks and reads the stock of products the view does not
// know yet, in id order (so transactions taking several lock them in one
// order).
func (v *View) loadProducts(ctx context.Context, ids []string) error {
	need := missing(ids, func(id string) bool { _, ok := v.products[id]; return ok })
	slices.Sort(need)
	for chunk := range slices.Chunk(need, maxParams) {
		rows, err := v.tx.Query(ctx, `SELECT `+productColumns+` FROM products WHERE id IN (`+placeholders(len(chunk))+`)
			ORDER BY id`+v.tx.ForUpdate(), anys(chunk)...)
		if err != nil {
			return fmt.Errorf("error reading products: %w", err)
		}
		for rows.Next() {
			p, err := scanProduct(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("error reading products: %w", err)
			}
			v.products[p.ID] = &stock{stock: p.Stock, reserved: p.Reserved, product: p}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("error reading products: %w", err)
		}
		for _, id := range chunk {
			if _, ok := v.products[id]; !ok {
				v.products[id] = nil
			}
		}
	}
	return nil
}

// Preload loads, for a batch of events' facts, everything the rules will
// read: the locks of every object in sight (in one statement, so in one
// global order), the facts connected to them, the orders they may link to
// with those orders' facts, and the products of every item in sight.
func (v *View) Preload(ctx context.Context, facts []caisse.Fact) error {
	if len(facts) == 0 {
		return nil
	}
	var frontier []string
	for _, f := range facts {
		frontier = append(frontier, f.ID, f.PaymentIntent, f.Charge)
	}
	for len(frontier) > 0 {
		if err := v.lock(ctx, frontier); err != nil {
			return err
		}
		if err := v.expand(ctx, frontier); err != nil {
			return err
		}
		// The objects the facts found name in turn, until none is new.
		var next unique
		for _, f := range v.facts {
			if f != nil {
				for _, ref := range []string{f.ID, f.PaymentIntent, f.Charge} {
					if !v.expanded[ref] {
						next.add(ref)
					}
				}
			}
		}
		frontier = next.ids
	}
	// The orders the batch may touch: those the facts are linked to, those
	// they name, and sessions that may be their own order.
	var orders unique
	for _, f := range v.facts {
		if f != nil {
			orders.add(f.OrderID)
			orders.add(f.OrderRef)
			if f.Kind == caisse.KindSession {
				orders.add(f.ID)
			}
		}
	}
	for _, f := range facts {
		orders.add(f.OrderRef)
		if f.Kind == caisse.KindSession {
			orders.add(f.ID)
		}
	}
	if err := v.loadOrders(ctx, orders.ids); err != nil {
		return err
	}
	if err := v.loadOrderFacts(ctx, orders.ids); err != nil {
		return err
	}
	var products []string
	addItems := func(items []caisse.Item) {
		for _, it := range items {
			products = append(products, it.ProductID)
		}
	}
	for _, f := range v.facts {
		if f != nil {
			addItems(f.Items)
		}
	}
	for _, f := range facts {
		addItems(f.Items)
	}
	for _, o := range v.orders {
		if o != nil {
			addItems(caisse.ItemsOf(o.Items))
			addItems(caisse.ItemsOf(o.CheckoutItems))
			for _, h := range o.Holds {
				products = append(products, h.ProductID)
			}
		}
	}
	return v.loadProducts(ctx, products)
}

// unique gathers ids once each, in the order first given, leaving out "".
type unique struct {
	seen map[string]bool
	ids  []string
}

func (u *unique) add(id string) {
	if id == "" || u.seen[id] {
		return
	}
	if u.seen == nil {
		u.seen = map[string]bool{}
	}
	u.seen[id] = true
	u.ids = append(u.ids, id)
}

// missing returns the ids, once each, that known does not know.
func missing(ids []string, known func(string) bool) []string {
	var u unique
	for _, id := range ids {
		if !known(id) {
			u.add(id)
		}
	}
	return u.ids
}

// --- caisse.Ledger -------------------------------------------------------

func (v *View) Lock(ctx context.Context, keys []string) error { return v.lock(ctx, keys) }

// copyFact returns a fact the caller may change: its slices are its own.
func copyFact(f caisse.LinkedFact) caisse.LinkedFact {
	f.Items, f.FailedAttempts = slices.Clone(f.Items), slices.Clone(f.FailedAttempts)
	return f
}

func (v *View) Facts(ctx context.Context, ids []string) ([]caisse.LinkedFact, error) {
	if err := v.loadFacts(ctx, ids); err != nil {
		return nil, err
	}
	var out []caisse.LinkedFact
	for _, id := range ids {
		if f := v.facts[id]; f != nil {
			out = append(out, copyFact(*f))
		}
	}
	return out, nil
}

func (v *View) Connected(ctx context.Context, ids []string) ([]caisse.LinkedFact, error) {
	if err := v.expand(ctx, ids); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []caisse.LinkedFact
	take := func(id string) {
		if f := v.facts[id]; f != nil && !seen[id] {
			seen[id] = true
			out = append(out, copyFact(*f))
		}
	}
	for _, id := range ids {
		take(id)
		for _, m := range []map[string]bool{v.byPI[id], v.byCharge[id]} {
			for _, fid := range slices.Sorted(maps.Keys(m)) {
				take(fid)
			}
		}
	}
	return out, nil
}

func (v *View) OrderFacts(ctx context.Context, orderID string) ([]caisse.Fact, error) {
	if err := v.loadOrderFacts(ctx, []string{orderID}); err != nil {
		return nil, err
	}
	var out []caisse.Fact
	for _, id := range slices.Sorted(maps.Keys(v.byOrder[orderID])) {
		if f := v.facts[id]; f != nil && f.OrderID == orderID {
			out = append(out, copyFact(*f).Fact)
		}
	}
	return out, nil
}

func (v *View) PutFact(_ context.Context, f caisse.LinkedFact) error {
	f = copyFact(f)
	old, existed := v.facts[f.ID]
	wasDirty := v.dirtyFacts[f.ID]
	if old != nil {
		v.unindex(old)
	}
	v.index(&f)
	v.facts[f.ID] = &f
	v.dirtyFacts[f.ID] = true
	v.undoLog = append(v.undoLog, func() {
		v.unindex(&f)
		if existed {
			v.facts[f.ID] = old
			if old != nil {
				v.index(old)
			}
		} else {
			delete(v.facts, f.ID)
		}
		v.dirtyFacts[f.ID] = wasDirty
	})
	return nil
}

// copyOrder returns an order the caller may change.
func copyOrder(o *caisse.OrderRecord) *caisse.OrderRecord {
	c := *o
	c.Items, c.Holds, c.CheckoutItems = slices.Clone(o.Items), slices.Clone(o.Holds), slices.Clone(o.CheckoutItems)
	c.UnknownProducts, c.MismatchedPayments, c.MismatchRefunds = slices.Clone(o.UnknownProducts), slices.Clone(o.MismatchedPayments), slices.Clone(o.MismatchRefunds)
	c.SalesTold = slices.Clone(o.SalesTold)
	c.RefundsRequested = slices.Clone(o.RefundsRequested)
	for i := range c.RefundsRequested {
		c.RefundsRequested[i].Lines = slices.Clone(o.RefundsRequested[i].Lines)
	}
	if o.Dispute != nil {
		d := *o.Dispute
		c.Dispute = &d
	}
	if o.FraudWarning != nil {
		w := *o.FraudWarning
		c.FraudWarning = &w
	}
	return &c
}

func (v *View) LockOrder(ctx context.Context, id string) (*caisse.OrderRecord, error) {
	if err := v.loadOrders(ctx, []string{id}); err != nil {
		return nil, err
	}
	if o := v.orders[id]; o != nil {
		return copyOrder(o), nil
	}
	return nil, nil
}

func (v *View) PutOrder(_ context.Context, o *caisse.OrderRecord) error {
	o = copyOrder(o)
	old, existed := v.orders[o.ID]
	wasDirty := v.dirtyOrders[o.ID]
	v.orders[o.ID] = o
	v.dirtyOrders[o.ID] = true
	v.undoLog = append(v.undoLog, func() {
		if existed {
			v.orders[o.ID] = old
		} else {
			delete(v.orders, o.ID)
		}
		v.dirtyOrders[o.ID] = wasDirty
	})
	return nil
}

// AddTimeline records an order's change with, for each stock move it
// made, the product's units on hand right after it.
func (v *View) AddTimeline(_ context.Context, orderID string, e caisse.TimelineEntry) error {
	if len(e.Stock) > 0 {
		e.Stock = slices.Clone(e.Stock)
		for i, m := range e.Stock {
			if p := v.products[m.ProductID]; p != nil {
				onHand := p.stock
				e.Stock[i].OnHand = &onHand
			}
		}
	}
	n := len(v.timeline)
	v.timeline = append(v.timeline, timelineRow{orderID, e})
	v.undoLog = append(v.undoLog, func() { v.timeline = v.timeline[:n] })
	return nil
}

func (v *View) Products(ctx context.Context, ids []string) (map[string]*caisse.Product, error) {
	if err := v.loadProducts(ctx, ids); err != nil {
		return nil, err
	}
	known := map[string]*caisse.Product{}
	for _, id := range ids {
		if p := v.products[id]; p != nil {
			c := *p.product
			c.ArtistEmail = slices.Clone(c.ArtistEmail)
			c.Stock, c.Reserved = p.stock, p.reserved
			c.Fill()
			known[id] = &c
		}
	}
	return known, nil
}

// MoveStock applies a stock move to the product's units in the view, with
// the condition the database's update would have: stock never below zero,
// reserved never below zero, and units taken only from what is available.
// The product's row is locked for the transaction, so the view's units are
// the database's.
func (v *View) MoveStock(ctx context.Context, m caisse.StockMove) (bool, int64, error) {
	if err := v.loadProducts(ctx, []string{m.ProductID}); err != nil {
		return false, 0, err
	}
	p := v.products[m.ProductID]
	if p == nil || p.stock-m.Sold < 0 || p.reserved+m.Reserved < 0 || (m.Need() > 0 && p.stock-p.reserved < m.Need()) {
		if !m.Takes() {
			return false, 0, fmt.Errorf("error releasing stock of %s: the product is gone or its counts are inconsistent", m.ProductID)
		}
		return false, 0, nil
	}
	old, wasDirty := *p, v.dirtyProducts[m.ProductID]
	p.stock -= m.Sold
	p.reserved += m.Reserved
	v.dirtyProducts[m.ProductID] = true
	v.undoLog = append(v.undoLog, func() {
		*p = old
		v.dirtyProducts[m.ProductID] = wasDirty
	})
	return true, p.stock - p.reserved, nil
}

func (v *View) AddOutbox(_ context.Context, m caisse.OutboxMessage) error {
	if m.EventID == "" {
		m.EventID = v.eventID
	}
	n := len(v.outbox)
	v.outbox = append(v.outbox, m)
	v.undoLog = append(v.undoLog, func() { v.outbox = v.outbox[:n] })
	return nil
}

// AddBalance keeps balance transactions for Flush, which merges them into
// the books.
func (v *View) AddBalance(_ context.Context, txns []caisse.BalanceTransaction) error {
	n := len(v.balance)
	v.balance = append(v.balance, txns...)
	v.undoLog = append(v.undoLog, func() { v.balance = v.balance[:n] })
	return nil
}

// AddPayout keeps a payout for Flush, which merges it into the books.
func (v *View) AddPayout(_ context.Context, p caisse.Payout) error {
	n := len(v.payouts)
	v.payouts = append(v.payouts, p)
	v.undoLog = append(v.undoLog, func() { v.payouts = v.payouts[:n] })
	return nil
}

// LookUpRefunds keeps a charge for Flush, which queues the job that asks
// Stripe for its refunds.
func (v *View) LookUpRefunds(_ context.Context, charge string) error {
	n := len(v.refunds)
	v.refunds = append(v.refunds, charge)
	v.undoLog = append(v.undoLog, func() { v.refunds = v.refunds[:n] })
	return nil
}

// flushBooks merges the batch's balance transactions and payouts, and
// links to their orders the balance transactions of the charges the batch
// linked (a charge's money may be known before its order is).
func (v *View) flushBooks(ctx context.Context, charges []string) error {
	if keys := booksKeys(v.balance, v.payouts); len(keys) > 0 {
		if err := v.tx.Lock(ctx, keys...); err != nil {
			return err
		}
	}
	for _, p := range v.payouts {
		if err := v.store.putPayout(ctx, v.tx, p); err != nil {
			return err
		}
	}
	v.payouts = nil
	if err := v.store.putBalance(ctx, v.tx, v.balance); err != nil {
		return err
	}
	v.balance = nil
	if len(v.refunds) > 0 {
		slices.Sort(v.refunds)
		var jobs []river.InsertManyParams
		for _, charge := range slices.Compact(v.refunds) {
			jobs = append(jobs, river.InsertManyParams{Args: ListRefundsArgs{Charge: charge}})
		}
		if err := v.tx.Insert(ctx, jobs); err != nil {
			return fmt.Errorf("error queueing the lookups of refunds: %w", err)
		}
		v.refunds = nil
	}
	if len(charges) > 0 {
		slices.Sort(charges)
		return rowsOf(len(charges), 1, func(from, to int, _ string) error {
			return linkBalance(ctx, v.tx, `charge IN (`+placeholders(to-from)+`)`, anys(charges[from:to])...)
		})
	}
	return nil
}

// --- undo and write back -------------------------------------------------

// Mark starts the changes of event eventID: Undo goes back to here, and
// the outbox rows written until the next Mark name the event.
func (v *View) Mark(eventID string) {
	v.undoLog = v.undoLog[:0]
	v.eventID = eventID
}

// Undo takes back every change since Mark.
func (v *View) Undo() {
	for i := len(v.undoLog) - 1; i >= 0; i-- {
		v.undoLog[i]()
	}
	v.undoLog = v.undoLog[:0]
}

// maxParams bounds the parameters of one statement (SQLite allows 32,766,
// PostgreSQL 65,535): longer lists are written in chunks.
const maxParams = 8000

// Flush writes what the view changed, with one statement per table (more
// only for very large batches).
func (v *View) Flush(ctx context.Context) error {
	var charges []string
	for id := range v.dirtyFacts {
		if f := v.facts[id]; f != nil && f.Kind == caisse.KindCharge && f.OrderID != "" {
			charges = append(charges, id)
		}
	}
	if err := v.flushFacts(ctx); err != nil {
		return err
	}
	if err := v.flushBooks(ctx, charges); err != nil {
		return err
	}
	if err := v.flushOrders(ctx); err != nil {
		return err
	}
	if err := v.flushTimeline(ctx); err != nil {
		return err
	}
	if err := v.flushProducts(ctx); err != nil {
		return err
	}
	if err := v.store.writeOutbox(ctx, v.tx, v.now, v.outbox); err != nil {
		return err
	}
	v.outbox = nil
	// The emails of orders that had no address and now have one go out:
	// those written before this batch wait for it (the batch's own are due
	// soon anyway). A statement only for such orders, which are few.
	var addressed []string
	for id := range v.unaddressed {
		if o := v.orders[id]; o != nil && o.CustomerEmail != "" && v.dirtyOrders[id] {
			addressed = append(addressed, id)
		}
	}
	if len(addressed) > 0 {
		slices.Sort(addressed)
		if err := v.store.wakeAddressed(ctx, v.tx, v.now, addressed); err != nil {
			return err
		}
	}
	return nil
}

// rowsOf writes rows of n values each as "(?, …), (?, …)" in chunks that
// keep within maxParams, calling write for each chunk.
func rowsOf(count, width int, write func(from, to int, values string) error) error {
	per := max(1, maxParams/width)
	row := "(" + placeholders(width) + ")"
	for from := 0; from < count; from += per {
		to := min(count, from+per)
		values := strings.TrimSuffix(strings.Repeat(row+", ", to-from), ", ")
		if err := write(from, to, values); err != nil {
			return err
		}
	}
	return nil
}

func (v *View) flushFacts(ctx context.Context) error {
	ids := slices.Sorted(maps.Keys(v.dirtyFacts))
	ids = slices.DeleteFunc(ids, func(id string) bool { return !v.dirtyFacts[id] || v.facts[id] == nil })
	return rowsOf(len(ids), 6, func(from, to int, values string) error {
		args := make([]any, 0, 6*(to-from))
		for _, id := range ids[from:to] {
			f := v.facts[id]
			data, err := json.Marshal(f.Fact)
			if err != nil {
				return err
			}
			args = append(args, f.ID, string(f.Kind), f.OrderID, f.PaymentIntent, f.Charge, string(data))
		}
		if _, err := v.tx.Exec(ctx, `
			INSERT INTO facts (id, kind, order_id, payment_intent, charge, data) VALUES `+values+`
			ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, order_id = excluded.order_id,
				payment_intent = excluded.payment_intent, charge = excluded.charge, data = excluded.data`, args...); err != nil {
			return fmt.Errorf("error storing facts: %w", err)
		}
		return nil
	})
}

func (v *View) flushOrders(ctx context.Context) error {
	ids := slices.Sorted(maps.Keys(v.dirtyOrders))
	ids = slices.DeleteFunc(ids, func(id string) bool { return !v.dirtyOrders[id] || v.orders[id] == nil })
	return rowsOf(len(ids), orderWidth, func(from, to int, values string) error {
		args := make([]any, 0, orderWidth*(to-from))
		for _, id := range ids[from:to] {
			args = append(args, orderValues(v.orders[id])...)
		}
		if _, err := v.tx.Exec(ctx, upsertOrders(values), args...); err != nil {
			return fmt.Errorf("error storing orders: %w", err)
		}
		return nil
	})
}

func (v *View) flushTimeline(ctx context.Context) error {
	return rowsOf(len(v.timeline), 8, func(from, to int, values string) error {
		args := make([]any, 0, 8*(to-from))
		for _, r := range v.timeline[from:to] {
			args = append(args, r.orderID, micros(r.entry.At), r.entry.EventID, r.entry.Type, string(r.entry.From), string(r.entry.To),
				stockMoves(r.entry.Stock), r.entry.Note)
		}
		if _, err := v.tx.Exec(ctx, `
			INSERT INTO order_timeline (order_id, at, event_id, type, from_status, to_status, stock, note) VALUES `+values, args...); err != nil {
			return fmt.Errorf("error recording order timelines: %w", err)
		}
		return nil
	})
}

func (v *View) flushProducts(ctx context.Context) error {
	ids := slices.Sorted(maps.Keys(v.dirtyProducts))
	ids = slices.DeleteFunc(ids, func(id string) bool { return !v.dirtyProducts[id] || v.products[id] == nil })
	return rowsOf(len(ids), 3, func(from, to int, values string) error {
		args := make([]any, 0, 3*(to-from)+1)
		args = append(args, micros(v.now))
		for _, id := range ids[from:to] {
			p := v.products[id]
			args = append(args, id, p.stock, p.reserved)
		}
		// The units as the view has them, for each product at once. The
		// rows are locked since the view read them (FOR UPDATE), so no
		// other transaction moved them in between.
		if _, err := v.tx.Exec(ctx, `
			UPDATE products SET stock = moved.column2, reserved = moved.column3, updated_at = ?
			FROM (VALUES `+typed(values, "TEXT", "BIGINT", "BIGINT")+`) AS moved
			WHERE products.id = moved.column1`, args...); err != nil {
			return fmt.Errorf("error moving stock: %w", err)
		}
		return nil
	})
}

// typed casts each value of a VALUES list of rows of placeholders to its
// column's type: PostgreSQL cannot guess the types of parameters in VALUES,
// and SQLite takes the casts as they are.
func typed(values string, types ...string) string {
	casts := make([]string, len(types))
	for i, t := range types {
		casts[i] = "CAST(? AS " + t + ")"
	}
	return strings.ReplaceAll(values, "("+placeholders(len(types))+")", "("+strings.Join(casts, ", ")+")")
}

// HeldKeys are the lock keys the view holds on Stripe objects, for tests
// that watch them.
func (v *View) HeldKeys() []string {
	keys := make([]string, 0, len(v.locked))
	for k := range v.locked {
		if !strings.HasPrefix(k, "order:") {
			keys = append(keys, k)
		}
	}
	return keys
}

// AddDeadLetter writes, with the view's other changes, the team's alert
// about an event that failed for good. The alert names the event itself:
// an event that could not even be read was never marked.
func (v *View) AddDeadLetter(ev *caisse.Event, reason string) {
	m := caisse.AlertMessage(ev.ID, caisse.TopicDeadLetter, ev.OrderID, caisse.DeadLetterAlert(ev, reason))
	m.EventID = ev.ID
	// Written in memory, it cannot fail here.
	_ = v.AddOutbox(context.Background(), m)
}
