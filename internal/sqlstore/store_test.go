package sqlstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/database"
	"github.com/caisse/caisse/inbox"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/payments"
	"github.com/caisse/caisse/stripe"
)

// bundle is one store on a database, with what it reports.
type bundle struct {
	*database.DB
	// jobs are the store's jobs through Stripe's API and River, wired as
	// caisse serve wires them.
	jobs *payments.Jobs
	mu   sync.Mutex
	done map[string]inbox.Report
	seen chan struct{}
}

// open opens (and migrates) a store on the database at url; several stores
// on one url behave as several caisse instances.
func open(t testing.TB, kind dbtest.Kind, url string, configure ...func(*sqlstore.Store, *inbox.Inbox)) *bundle {
	t.Helper()
	return openJobs(t, kind, url, nil, configure...)
}

// openJobs is open, with the store's jobs set up by setJobs (if not nil)
// before the database opens.
func openJobs(t testing.TB, kind dbtest.Kind, url string, setJobs func(*payments.Jobs), configure ...func(*sqlstore.Store, *inbox.Inbox)) *bundle {
	t.Helper()
	d, err := database.New(url)
	if err != nil {
		t.Fatal(err)
	}
	jobs := payments.New(d.Store)
	d.River = jobs.RiverConfig
	jobs.Inbox = d
	b := &bundle{DB: d, jobs: jobs, done: map[string]inbox.Report{}, seen: make(chan struct{}, 1)}
	core := d.Store
	in := d.Inbox()
	in.Decode = stripe.Facts
	core.Logger = slog.New(slog.DiscardHandler)
	core.PollInterval = 10 * time.Millisecond
	in.Processed = func(r inbox.Report) {
		b.mu.Lock()
		if r.Status != caisse.EventPending {
			b.done[r.Event.ID] = r
		}
		b.mu.Unlock()
		select {
		case b.seen <- struct{}{}:
		default:
		}
	}
	for _, c := range configure {
		c(core, in)
	}
	if setJobs != nil {
		setJobs(jobs)
	}
	ctx := context.Background()
	if err := d.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Stop(context.Background())
		d.Close()
	})
	return b
}

// reserveCheckout opens a caisse checkout of lines as order orderID through
// the store's methods alone, as payments' Checkout calls them once Stripe
// has created the session: its units reserved, its session recorded.
// Payments' own tests call Stripe.
func reserveCheckout(t *testing.T, b *bundle, orderID string, lines ...caisse.Line) *caisse.Checkout {
	t.Helper()
	ctx := context.Background()
	now := b.Store.Now().UTC()
	rec := &caisse.OrderRecord{
		Order:             caisse.Order{ID: orderID, Status: caisse.StatusPending, CreatedAt: now, UpdatedAt: now, Items: lines},
		CheckoutOpen:      true,
		CheckoutExpiresAt: now.Add(time.Hour).Truncate(time.Second),
	}
	if _, err := b.Store.ReserveCheckout(ctx, rec, "", nil, 0); err != nil {
		t.Fatal(err)
	}
	c := &caisse.Checkout{OrderID: orderID, CheckoutSessionID: "cs_test_" + orderID, ExpiresAt: rec.CheckoutExpiresAt}
	c.URL = "https://checkout.stripe.com/c/pay/" + c.CheckoutSessionID
	if err := b.Store.RecordCheckoutSession(ctx, orderID, c.CheckoutSessionID, c.URL); err != nil {
		t.Fatal(err)
	}
	return c
}

// clock is a time the test moves forward.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// alerts returns the alerts of a topic the store wrote.
func alerts(t *testing.T, b *bundle, topic string) []*caisse.Delivery {
	t.Helper()
	l, _, err := b.FindDeliveries(context.Background(), caisse.DeliveryFilter{Channel: caisse.ChannelAlert, Page: caisse.Page{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*caisse.Delivery
	for _, d := range l {
		if d.Topic == topic {
			out = append(out, d)
		}
	}
	return out
}

func (b *bundle) receive(t *testing.T, ex stripe.Example) string {
	t.Helper()
	payload, err := stripe.Build(ex)
	if err != nil {
		t.Fatal(err)
	}
	e, err := stripe.DecodeEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReceiveEvent(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// waitAll waits until the stores together have finished every event.
func waitAll(t testing.TB, stores []*bundle, ids []string) map[string]inbox.Report {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		got := map[string]inbox.Report{}
		for _, b := range stores {
			b.mu.Lock()
			for id, r := range b.done {
				got[id] = r
			}
			b.mu.Unlock()
		}
		missing := 0
		for _, id := range ids {
			if _, ok := got[id]; !ok {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		select {
		case <-stores[0].seen:
		case <-stores[len(stores)-1].seen:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d of %d events not processed", missing, len(ids))
		}
	}
}

func TestReceiveEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		b := open(t, kind, url)
		ctx := context.Background()
		payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.expired", EventID: "evt_1", OrderID: "o1"})
		// The first delivery is stored with one statement, which is its
		// transaction; a duplicate also reads the stored body, to compare,
		// in the same statement on PostgreSQL.
		dup := int64(2)
		if kind == dbtest.Postgres {
			dup = 1
		}
		for i, want := range []struct {
			inserted   bool
			statements int64
		}{{true, 1}, {false, dup}, {false, dup}} {
			e, _ := stripe.DecodeEvent(payload)
			before := b.Store.Statements.Load()
			inserted, err := b.ReceiveEvent(ctx, e)
			if err != nil || inserted != want.inserted {
				t.Fatalf("delivery %d: inserted %v (%v), want %v", i, inserted, err, want.inserted)
			}
			if n := b.Store.Statements.Load() - before; n != want.statements {
				t.Fatalf("delivery %d took %d statements, want %d", i, n, want.statements)
			}
		}
		backlog, err := b.EventBacklog(ctx)
		if err != nil || backlog.Pending != 1 {
			t.Fatalf("backlog %+v (%v): want one pending event", backlog, err)
		}
		e, err := b.FindEvent(ctx, "evt_1")
		if err != nil || string(e.Payload) != string(payload) || e.Type != "checkout.session.expired" || e.ObjectID == "" {
			t.Fatalf("stored event %+v (%v)", e, err)
		}
		if _, err := b.FindEvent(ctx, "evt_nope"); caisse.ErrorCode(err) != caisse.ENOTFOUND {
			t.Fatalf("missing event: %v", err)
		}
	})
}

// The same event delivered many times at once, so that its deliveries share
// ingest statements, is stored once, and exactly one delivery is told it
// stored it.
func TestConcurrentDuplicatesStoreOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		b := open(t, kind, url)
		ctx := context.Background()
		var mu sync.Mutex
		inserted := map[string]int{}
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("evt_dup_%d", i%3)
				payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.expired", EventID: id, OrderID: id})
				e, _ := stripe.DecodeEvent(payload)
				ok, err := b.ReceiveEvent(ctx, e)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if ok {
					inserted[id]++
				}
			}()
		}
		wg.Wait()
		if len(inserted) != 3 || inserted["evt_dup_0"] != 1 || inserted["evt_dup_1"] != 1 || inserted["evt_dup_2"] != 1 {
			t.Fatalf("deliveries told they stored the event: %v, want one each", inserted)
		}
		backlog, err := b.EventBacklog(ctx)
		if err != nil || backlog.Pending != 3 {
			t.Fatalf("backlog %+v (%v): want three pending events", backlog, err)
		}
	})
}

func TestPaging(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		b := open(t, kind, kind.NewURL(t))
		ctx := context.Background()
		for i := range 5 {
			b.receive(t, stripe.Example{Type: "checkout.session.expired", EventID: fmt.Sprintf("evt_%d", i), OrderID: "o"})
			if _, err := b.PutProduct(ctx, fmt.Sprintf("p%d", i), caisse.NewProductUpdate("P", 0, "", 1)); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		page := caisse.EventFilter{Page: caisse.Page{Limit: 2}}
		for {
			events, more, err := b.FindEvents(ctx, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events {
				ids = append(ids, e.ID)
			}
			if !more {
				break
			}
			page.StartingAfter = events[len(events)-1].ID
		}
		if got := strings.Join(ids, ","); got != "evt_4,evt_3,evt_2,evt_1,evt_0" {
			t.Fatalf("pages gave %s, want newest first", got)
		}
		products, more, err := b.FindProducts(ctx, caisse.Page{Limit: 3, StartingAfter: "p4"})
		if err != nil || len(products) != 3 || !more || products[0].ID != "p3" {
			t.Fatalf("products page: %v %v %v", products, more, err)
		}
		if _, _, err := b.FindEvents(ctx, caisse.EventFilter{Page: caisse.Page{StartingAfter: "evt_nope"}}); caisse.ErrorCode(err) != caisse.EINVALID {
			t.Fatalf("unknown starting_after: %v", err)
		}
		if _, _, err := b.FindOrders(ctx, caisse.OrderFilter{Page: caisse.Page{Limit: 1001}}); caisse.ErrorCode(err) != caisse.EINVALID {
			t.Fatalf("limit 1001: %v", err)
		}
	})
}

func TestStockCannotGoBelowReserved(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		b := open(t, kind, kind.NewURL(t))
		ctx := context.Background()
		if _, err := b.PutProduct(ctx, "print", caisse.NewProductUpdate("Print", 100, "eur", 2)); err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		id := b.receive(t, stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print", Quantity: 2, Unpaid: true})
		waitAll(t, []*bundle{b}, []string{id})
		_, err := b.PutProduct(ctx, "print", caisse.NewProductUpdate("Print", 100, "eur", 1))
		if caisse.ErrorCode(err) != caisse.ECONFLICT {
			t.Fatalf("stock below reserved: %v, want a conflict", err)
		}
		p, err := b.PutProduct(ctx, "print", caisse.NewProductUpdate("Print two", 100, "eur", 3))
		if err != nil || p.Reserved != 2 || p.Available != 1 || p.Name != "Print two" {
			t.Fatalf("product %+v (%v)", p, err)
		}
	})
}

// Many events about one order, delivered at once to three instances of the
// store: they serialize on the order, no deadlock or serialization failure
// reaches an attempt, and the order ends exactly as the events say.
func TestConcurrentEventsOnOneOrder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		var stores []*bundle
		for range 3 {
			stores = append(stores, open(t, kind, url))
		}
		ctx := context.Background()
		if _, err := stores[0].PutProduct(ctx, "tee", caisse.NewProductUpdate("Tee", 0, "", 100)); err != nil {
			t.Fatal(err)
		}
		var exs []stripe.Example
		for round := range 3 {
			for _, order := range []string{"o1", "o2"} {
				ex := stripe.Example{OrderID: order, ProductID: "tee", Quantity: 2, Amount: 10000,
					Created: time.Unix(1700000000+int64(round), 0)}
				add := func(typ string, edit func(*stripe.Example)) {
					e := ex
					e.Type = typ
					e.EventID = fmt.Sprintf("evt_%s_%d_%d", order, round, len(exs))
					if edit != nil {
						edit(&e)
					}
					exs = append(exs, e)
				}
				add("checkout.session.completed", nil)
				add("payment_intent.succeeded", nil)
				add("payment_intent.payment_failed", nil)
				for r := int64(1); r <= 4; r++ {
					add("charge.refunded", func(e *stripe.Example) { e.Refunded = 1000 * (r + int64(round)) })
				}
				add("charge.dispute.created", nil)
				add("charge.dispute.updated", nil)
				add("charge.dispute.closed", func(e *stripe.Example) { e.DisputeStatus = "won" })
			}
		}
		var ids []string
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i, ex := range exs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := stores[i%3].receive(t, ex)
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}()
		}
		wg.Wait()
		for _, s := range stores {
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for id, r := range waitAll(t, stores, ids) {
			if r.Status != caisse.EventProcessed || r.Err != nil {
				t.Errorf("event %s: %s %v", id, r.Status, r.Err)
			}
		}
		for _, id := range ids {
			e, err := stores[0].FindEvent(ctx, id)
			if err != nil || e.Attempts != 1 || e.Status != caisse.EventProcessed {
				t.Errorf("event %s: %+v (%v): want processed at the first attempt", id, e, err)
			}
		}
		for _, order := range []string{"o1", "o2"} {
			o, err := stores[1].FindOrder(ctx, order)
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != caisse.StatusPartiallyRefunded || o.AmountRefunded != 6000 || o.Dispute.Status != "won" || o.Oversold {
				t.Errorf("order %s: %s refunded %d dispute %+v", order, o.Status, o.AmountRefunded, o.Dispute)
			}
		}
		p, err := stores[2].FindProduct(ctx, "tee")
		if err != nil || p.Stock != 96 || p.Reserved != 0 {
			t.Fatalf("product %+v (%v), want 4 units sold", p, err)
		}
	})
}
