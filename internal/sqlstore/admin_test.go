package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/inbox"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/sqlite"
	"github.com/caisse/caisse/stripe"
)

// rawDB opens the test's database directly, to arrange and read what the
// store's API does not show; it is closed when the test ends.
func rawDB(t *testing.T, kind dbtest.Kind, url string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if kind == dbtest.SQLite {
		db, err = sql.Open("sqlite", sqlite.DSN(strings.TrimPrefix(url, "sqlite:")))
	} else {
		db, err = sql.Open("pgx", dbtest.SQLURL(url))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawExec runs a statement written with ? placeholders on either database.
func rawExec(t *testing.T, kind dbtest.Kind, db *sql.DB, query string, args ...any) {
	t.Helper()
	if kind == dbtest.Postgres {
		query = sqlstore.Rebind(query)
	}
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// set moves the clock to t.
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// sqlBool is a boolean literal both databases read.
func sqlBool(v bool) string {
	if v {
		return "TRUE"
	}
	return "FALSE"
}

// forget clears what the stores reported, so waitAll waits for events
// processed again.
func (b *bundle) forget() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = map[string]inbox.Report{}
}

// Every outbox row an event's processing writes names that event, even
// when several events of one order are applied in one batch; the team's
// alert about a dead letter names the dead event; a message no event
// caused names none.
func TestDeliveriesNameTheirEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		b := open(t, kind, kind.NewURL(t), func(s *sqlstore.Store, in *inbox.Inbox) {
			s.Outbox = caisse.Recipients{Alerts: []string{caisse.RecipientSlack}, Webhooks: []string{"https://shop.example/hooks"}}
			decode := in.Decode
			in.Decode = func(e *caisse.Event) (caisse.EventFacts, error) {
				if e.ID == "evt_nonsense" {
					return caisse.EventFacts{}, caisse.Errorf(caisse.EINVALID, "event %s makes no sense", e.ID)
				}
				return decode(e)
			}
		})
		ctx := context.Background()
		if _, err := b.PutProduct(ctx, "print", caisse.NewProductUpdate("Print", 2500, "eur", 5)); err != nil {
			t.Fatal(err)
		}
		// Received before the applier starts, so they are applied together.
		ids := []string{
			b.receive(t, stripe.Example{Type: "checkout.session.completed", EventID: "evt_paid", OrderID: "o1", ProductID: "print"}),
			b.receive(t, stripe.Example{Type: "charge.refunded", EventID: "evt_refund", OrderID: "o1", ProductID: "print", Refunded: 1000}),
			b.receive(t, stripe.Example{Type: "checkout.session.completed", EventID: "evt_nonsense", OrderID: "o2"}),
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitAll(t, []*bundle{b}, ids)

		rows, _, err := b.FindDeliveries(ctx, caisse.DeliveryFilter{OrderID: "o1", Page: caisse.Page{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		byEvent := map[string]int{}
		for _, d := range rows {
			byEvent[d.EventID]++
			want := map[string]string{caisse.TopicOrderConfirmation: "evt_paid", caisse.HookOrderPaid: "evt_paid",
				caisse.TopicPartialRefund: "evt_refund", caisse.HookOrderPartialRefund: "evt_refund"}[d.Topic]
			if want != "" && d.EventID != want {
				t.Errorf("delivery %s (%s %s) names event %q, want %s", d.ID, d.Channel, d.Topic, d.EventID, want)
			}
			if again, err := b.FindDelivery(ctx, d.ID); err != nil || again.EventID != d.EventID {
				t.Errorf("delivery %s read alone: %+v (%v)", d.ID, again, err)
			}
		}
		if byEvent["evt_paid"] == 0 || byEvent["evt_refund"] == 0 || len(byEvent) != 2 {
			t.Fatalf("deliveries of o1 by event: %v, want rows of evt_paid and evt_refund only", byEvent)
		}
		dead := alerts(t, b, caisse.TopicDeadLetter)
		if len(dead) != 1 || dead[0].EventID != "evt_nonsense" {
			t.Fatalf("dead-letter alerts %+v, want one naming evt_nonsense", dead)
		}
		if err := b.Store.WriteOutbox(ctx, caisse.AlertMessage("test:no-event", caisse.TopicSilence, "", caisse.Alert{Title: "t", Text: "t"})); err != nil {
			t.Fatal(err)
		}
		if quiet := alerts(t, b, caisse.TopicSilence); len(quiet) != 1 || quiet[0].EventID != "" {
			t.Fatalf("alerts no event caused: %+v, want one naming no event", quiet)
		}
	})
}

// The order's timeline shows what each change did to the stock: a sale
// takes its units, a full refund puts them back (RestockOnRefund), a
// delayed payment reserves then sells, a caisse checkout reserves; a change
// that moves nothing shows nothing, and is stored as ”.
func TestTimelineShowsStockMoves(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		b := open(t, kind, url)
		ctx := context.Background()
		if _, err := b.PutProduct(ctx, "print", caisse.NewProductUpdate("Print", 2500, "eur", 10)); err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		step := func(ex stripe.Example) {
			ex.ProductID = "print"
			waitAll(t, []*bundle{b}, []string{b.receive(t, ex)})
		}
		step(stripe.Example{Type: "checkout.session.completed", OrderID: "o_sold", Quantity: 2, Amount: 5000})
		step(stripe.Example{Type: "charge.refunded", OrderID: "o_sold", Quantity: 2, Amount: 5000, Refunded: 5000})
		step(stripe.Example{Type: "checkout.session.completed", OrderID: "o_late", Unpaid: true})
		step(stripe.Example{Type: "checkout.session.async_payment_succeeded", OrderID: "o_late"})
		step(stripe.Example{Type: "checkout.session.expired", OrderID: "o_gone"})
		checkout := reserveCheckout(t, b, "ord_checkout", caisse.Line{ProductID: "print", Quantity: 3})

		type change struct {
			from, to caisse.OrderStatus
			stock    []caisse.StockMove
		}
		// Each move also records the units on hand right after it: 10, 8
		// after the sale, 10 again after the refund, 9 after the late sale.
		onHand := func(n int64) *int64 { return &n }
		for order, want := range map[string][]change{
			"o_sold": {
				{caisse.StatusPending, caisse.StatusPaid, []caisse.StockMove{{ProductID: "print", Sold: 2, OnHand: onHand(8)}}},
				{caisse.StatusPaid, caisse.StatusRefunded, []caisse.StockMove{{ProductID: "print", Sold: -2, OnHand: onHand(10)}}},
			},
			"o_late": {
				{caisse.StatusPending, caisse.StatusAwaitingPayment, []caisse.StockMove{{ProductID: "print", Reserved: 1, OnHand: onHand(10)}}},
				{caisse.StatusAwaitingPayment, caisse.StatusPaid, []caisse.StockMove{{ProductID: "print", Reserved: -1, Sold: 1, OnHand: onHand(9)}}},
			},
			"o_gone":         {{caisse.StatusPending, caisse.StatusExpired, nil}},
			checkout.OrderID: {{"", caisse.StatusPending, []caisse.StockMove{{ProductID: "print", Reserved: 3, OnHand: onHand(9)}}}},
		} {
			o, err := b.FindOrder(ctx, order)
			if err != nil {
				t.Fatal(err)
			}
			var got []change
			for _, e := range o.Timeline {
				got = append(got, change{e.From, e.To, e.Stock})
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("order %s's timeline %+v, want %+v", order, got, want)
			}
		}
		o, err := b.FindOrder(ctx, "o_sold")
		if err != nil {
			t.Fatal(err)
		}
		if j, _ := json.Marshal(o.Timeline[0]); !strings.Contains(string(j), `"stock":[{"product_id":"print","reserved":0,"sold":2,"on_hand":8}]`) {
			t.Errorf("timeline entry as the API shows it: %s", j)
		}
		var stored string
		if err := rawDB(t, kind, url).QueryRow(`SELECT stock FROM order_timeline WHERE order_id = 'o_gone'`).Scan(&stored); err != nil || stored != "" {
			t.Errorf("stock stored for a change that moved none: %q (%v), want ''", stored, err)
		}
		if p, err := b.FindProduct(ctx, "print"); err != nil || p.Stock != 9 || p.Reserved != 3 {
			t.Fatalf("product %+v (%v): want 1 sold, 3 reserved", p, err)
		}
	})
}

// The events list keeps the events about one order's Stripe objects, and
// those received in a time range: from since, included, to until,
// excluded; a range that holds nothing is refused.
func TestFindEventsByOrderAndTime(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		clk := &clock{now: base}
		b := open(t, kind, kind.NewURL(t), func(s *sqlstore.Store, in *inbox.Inbox) { s.Now = clk.Now })
		ctx := context.Background()
		var ids []string
		for i, ex := range []stripe.Example{
			{Type: "checkout.session.completed", EventID: "evt_o1_paid", OrderID: "o1"},
			{Type: "checkout.session.completed", EventID: "evt_o2_paid", OrderID: "o2"},
			{Type: "payment_intent.succeeded", EventID: "evt_o1_pi", OrderID: "o1"},
			{Type: "charge.refunded", EventID: "evt_o1_refund", OrderID: "o1", Refunded: 500},
		} {
			if i > 0 {
				clk.Add(time.Hour)
			}
			ids = append(ids, b.receive(t, ex))
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitAll(t, []*bundle{b}, ids)

		list := func(f caisse.EventFilter) string {
			t.Helper()
			var got []string
			for {
				events, more, err := b.FindEvents(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range events {
					got = append(got, e.ID)
				}
				if !more {
					return strings.Join(got, ",")
				}
				f.StartingAfter = events[len(events)-1].ID
			}
		}
		for _, c := range []struct {
			name   string
			filter caisse.EventFilter
			want   string
		}{
			{"order o1", caisse.EventFilter{OrderID: "o1"}, "evt_o1_refund,evt_o1_pi,evt_o1_paid"},
			{"order o1, one a page", caisse.EventFilter{OrderID: "o1", Page: caisse.Page{Limit: 1}}, "evt_o1_refund,evt_o1_pi,evt_o1_paid"},
			{"order o2", caisse.EventFilter{OrderID: "o2"}, "evt_o2_paid"},
			{"no such order", caisse.EventFilter{OrderID: "o9"}, ""},
			{"order o1 and a type", caisse.EventFilter{OrderID: "o1", Type: "payment_intent.succeeded"}, "evt_o1_pi"},
			{"since the second", caisse.EventFilter{Since: base.Add(time.Hour)}, "evt_o1_refund,evt_o1_pi,evt_o2_paid"},
			{"until the third", caisse.EventFilter{Until: base.Add(2 * time.Hour)}, "evt_o2_paid,evt_o1_paid"},
			{"between", caisse.EventFilter{Since: base.Add(30 * time.Minute), Until: base.Add(150 * time.Minute)}, "evt_o1_pi,evt_o2_paid"},
			{"order o1 between", caisse.EventFilter{OrderID: "o1", Since: base.Add(30 * time.Minute), Until: base.Add(150 * time.Minute)}, "evt_o1_pi"},
		} {
			if got := list(c.filter); got != c.want {
				t.Errorf("%s: %q, want %q", c.name, got, c.want)
			}
		}
		for _, until := range []time.Time{base, base.Add(-time.Minute)} {
			_, _, err := b.FindEvents(ctx, caisse.EventFilter{Since: base, Until: until})
			if caisse.ErrorCode(err) != caisse.EINVALID || !strings.Contains(caisse.ErrorMessage(err), "until") {
				t.Errorf("until %s, since %s: %v, want a refusal naming until", until, base, err)
			}
		}
	})
}

// A replay by filter puts back every event the filter selects whose
// payload is kept, whatever the page, in one go: they are pending again,
// with a fresh count of attempts, and are processed again. Its count says
// beforehand how many it will put back.
func TestReplayEventsByFilter(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		clk := &clock{now: time.Now().UTC()}
		b := open(t, kind, kind.NewURL(t), func(s *sqlstore.Store, in *inbox.Inbox) {
			s.Now = clk.Now
			s.Retention = time.Hour
		})
		ctx := context.Background()
		unknown := func(id string) string {
			e, err := stripe.DecodeEvent([]byte(`{"id":"` + id + `","object":"event","type":"customer.created","created":1767225600,` +
				`"livemode":false,"data":{"object":{"id":"cus_` + id + `","object":"customer"}}}`))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.ReceiveEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
			return id
		}
		ids := []string{
			unknown("evt_pruned"),
			b.receive(t, stripe.Example{Type: "checkout.session.completed", EventID: "evt_o1", OrderID: "o1"}),
			b.receive(t, stripe.Example{Type: "checkout.session.completed", EventID: "evt_o2", OrderID: "o2"}),
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitAll(t, []*bundle{b}, ids)
		clk.Add(2 * time.Hour)
		if n, err := b.Store.PruneIgnored(ctx); err != nil || n != 1 {
			t.Fatalf("pruned %d (%v), want evt_pruned", n, err)
		}
		waitAll(t, []*bundle{b}, []string{unknown("evt_kept")})

		for _, c := range []struct {
			filter caisse.EventFilter
			want   int64
		}{
			{caisse.EventFilter{}, 3},
			{caisse.EventFilter{Page: caisse.Page{Limit: 1}}, 3},
			{caisse.EventFilter{Type: "customer.created"}, 1},
			{caisse.EventFilter{Status: caisse.EventIgnored}, 1},
			{caisse.EventFilter{OrderID: "o1"}, 1},
			{caisse.EventFilter{Since: clk.Now().Add(-time.Minute)}, 1},
			{caisse.EventFilter{Status: caisse.EventFailed}, 0},
		} {
			if n, err := b.CountReplayable(ctx, c.filter); err != nil || n != c.want {
				t.Errorf("CountReplayable(%+v) = %d (%v), want %d", c.filter, n, err, c.want)
			}
		}
		bad := caisse.EventFilter{Since: clk.Now(), Until: clk.Now().Add(-time.Hour)}
		if _, err := b.CountReplayable(ctx, bad); caisse.ErrorCode(err) != caisse.EINVALID {
			t.Errorf("CountReplayable of an empty range: %v", err)
		}
		if _, err := b.ReplayEvents(ctx, bad); caisse.ErrorCode(err) != caisse.EINVALID {
			t.Errorf("ReplayEvents of an empty range: %v", err)
		}

		b.forget()
		n, err := b.ReplayEvents(ctx, caisse.EventFilter{Status: caisse.EventIgnored, Page: caisse.Page{Limit: 5000}})
		if err != nil || n != 1 {
			t.Fatalf("replayed %d (%v), want evt_kept alone", n, err)
		}
		n, err = b.ReplayEvents(ctx, caisse.EventFilter{OrderID: "o1"})
		if err != nil || n != 1 {
			t.Fatalf("replayed %d (%v), want evt_o1", n, err)
		}
		again := waitAll(t, []*bundle{b}, []string{"evt_kept", "evt_o1"})
		if again["evt_o1"].Status != caisse.EventProcessed || again["evt_kept"].Status != caisse.EventIgnored {
			t.Fatalf("processed again: %+v", again)
		}
		b.mu.Lock()
		_, o2Again := b.done["evt_o2"]
		b.mu.Unlock()
		if o2Again {
			t.Error("evt_o2, which no filter selected, was processed again")
		}
		for id, status := range map[string]caisse.EventStatus{"evt_o1": caisse.EventProcessed, "evt_kept": caisse.EventIgnored,
			"evt_pruned": caisse.EventIgnored, "evt_o2": caisse.EventProcessed} {
			e, err := b.FindEvent(ctx, id)
			if err != nil || e.Status != status || e.Attempts != 1 {
				t.Errorf("event %s: %+v (%v), want %s after one attempt", id, e, err, status)
			}
		}
	})
}

// Orders are found by their id, their checkout session and their payment
// intent, each through an index (an open caisse checkout's session too,
// before any event names it), and by their customer's address in any
// case; with a status and pages.
func TestFindOrdersBySearch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		var rec *recordingDriver
		b := open(t, kind, url, func(s *sqlstore.Store, in *inbox.Inbox) {
			rec = &recordingDriver{Driver: s.Driver}
			s.Driver = rec
		})
		ctx := context.Background()
		if _, err := b.PutProduct(ctx, "print", caisse.NewProductUpdate("Print", 2500, "eur", 10)); err != nil {
			t.Fatal(err)
		}
		ids := []string{
			// o1's payment intent is known only from its session.
			b.receive(t, stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print", Email: "Ann.Buyer@Example.com"}),
			// o2's session only from its payment intent's order.
			b.receive(t, stripe.Example{Type: "payment_intent.succeeded", OrderID: "o2", ProductID: "print", Email: "bob@example.com"}),
			b.receive(t, stripe.Example{Type: "checkout.session.completed", OrderID: "o3", ProductID: "print", Email: "ann.buyer@example.com"}),
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitAll(t, []*bundle{b}, ids)
		checkout := reserveCheckout(t, b, "ord_checkout", caisse.Line{ProductID: "print", Quantity: 1})
		search := func(f caisse.OrderFilter) string {
			t.Helper()
			var got []string
			for {
				orders, more, err := b.FindOrders(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range orders {
					got = append(got, o.ID)
				}
				if !more {
					return strings.Join(got, ",")
				}
				f.StartingAfter = orders[len(orders)-1].ID
			}
		}
		raw := rawDB(t, kind, url)
		for _, c := range []struct {
			query  string
			status caisse.OrderStatus
			limit  int
			want   string
		}{
			{query: "o1", want: "o1"},
			{query: " o2 ", want: "o2"},
			{query: "cs_test_o1", want: "o1"},
			{query: "pi_o1", want: "o1"},
			{query: "pi_o2", want: "o2"},
			{query: checkout.CheckoutSessionID, want: checkout.OrderID},
			{query: checkout.OrderID, want: checkout.OrderID},
			{query: "ann.buyer@example.com", want: "o3,o1"},
			{query: "ANN.BUYER@EXAMPLE.COM", limit: 1, want: "o3,o1"},
			{query: "Bob@Example.COM", want: "o2"},
			{query: "pi_o1", status: caisse.StatusPaid, want: "o1"},
			{query: "pi_o1", status: caisse.StatusRefunded, want: ""},
			{query: "ann.buyer@example.com", status: caisse.StatusPaid, limit: 1, want: "o3,o1"},
			{query: "ann.buyer@example", want: ""},
			{query: "o", want: ""},
		} {
			rec.reset()
			f := caisse.OrderFilter{Query: c.query, Status: c.status, Page: caisse.Page{Limit: c.limit}}
			if got := search(f); got != c.want {
				t.Errorf("search %q (status %q): %q, want %q", c.query, c.status, got, c.want)
			}
			if strings.Contains(c.query, "@") || c.status != "" {
				continue
			}
			// A search by id reads the orders through indexes only.
			rec.mu.Lock()
			statements := rec.statements
			rec.mu.Unlock()
			for _, st := range statements {
				if kind == dbtest.SQLite {
					checkSQLitePlan(t, raw, st)
				} else {
					checkPostgresPlan(t, raw, st, "orders", "facts")
				}
			}
		}
	})
}

// The dashboard's figures, on a database with a long history: the events
// of the last hour and day and how many of those failed, the newest
// event's time, the backlog, the flagged orders, and the open disputes,
// soonest due first. Its reads of the events walk back over the last day's
// events only, never the history before.
func TestDashboard(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
		clk := &clock{now: now.Add(-72 * time.Hour)}
		var rec *recordingDriver
		b := open(t, kind, url, func(s *sqlstore.Store, in *inbox.Inbox) {
			s.Now = clk.Now
			rec = &recordingDriver{Driver: s.Driver}
			s.Driver = rec
		})
		ctx := context.Background()
		raw := rawDB(t, kind, url)
		empty, err := b.Store.Dashboard(ctx, now)
		if err != nil || empty.EventsDay != 0 || !empty.LastReceivedAt.IsZero() || empty.Disputes == nil || len(empty.Disputes) != 0 {
			t.Fatalf("empty dashboard %+v (%v)", empty, err)
		}

		// Three days of history before the last day: processed events.
		const history = 2000
		rawExec(t, kind, raw, `WITH RECURSIVE seq(x) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT x + 1 FROM seq WHERE x < ?)
			INSERT INTO events (id, type, created, livemode, api_version, object_id, received_at, status, payload)
			SELECT 'evt_old_' || x, 'customer.created', 0, FALSE, '', 'cus_old', CAST(? AS BIGINT) + x, 'processed', ? FROM seq`,
			history, now.Add(-72*time.Hour).UnixMicro(), []byte(`{}`))
		var day []string
		for i, ago := range []time.Duration{5 * time.Hour, 3 * time.Hour, 50 * time.Minute, 20 * time.Minute, 10 * time.Minute} {
			clk.set(now.Add(-ago))
			day = append(day, b.receive(t, stripe.Example{Type: "checkout.session.expired", EventID: "evt_day_" + string(rune('a'+i))}))
		}
		rawExec(t, kind, raw, `UPDATE events SET status = 'failed' WHERE id IN (?, ?)`, day[1], "evt_old_7")

		type order struct {
			id, status         string
			oversold, mismatch bool
			disputeStatus      string
			due                int64
		}
		for _, o := range []order{
			{id: "d_late", status: "disputed", disputeStatus: "needs_response", due: 3000},
			{id: "d_soon", status: "disputed", disputeStatus: "warning_needs_response", due: 1000},
			{id: "d_undated", status: "disputed", disputeStatus: "under_review"},
			{id: "d_mismatch", status: "paid", mismatch: true, disputeStatus: "needs_response", due: 2000},
			{id: "d_won", status: "paid", disputeStatus: "won", due: 500},
			{id: "d_lost", status: "dispute_lost", disputeStatus: "lost", due: 500},
			{id: "d_closed", status: "paid", mismatch: true, disputeStatus: "warning_closed", due: 500},
			{id: "oversold", status: "paid", oversold: true},
			{id: "plain", status: "paid"},
		} {
			dispute := ""
			if o.disputeStatus != "" {
				j, _ := json.Marshal(caisse.Dispute{ID: "dp_" + o.id, Status: o.disputeStatus, Amount: 100, EvidenceDueBy: o.due})
				dispute = string(j)
			}
			rawExec(t, kind, raw, `INSERT INTO orders (id, status, dispute, oversold, payment_mismatch, created_at, updated_at)
				VALUES (?, ?, ?, `+sqlBool(o.oversold)+`, `+sqlBool(o.mismatch)+`, 1, 1)`, o.id, o.status, dispute)
		}

		rec.reset()
		d, err := b.Store.Dashboard(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if d.EventsHour != 3 || d.EventsDay != 5 || d.FailedDay != 1 || !d.LastReceivedAt.Equal(now.Add(-10*time.Minute)) {
			t.Errorf("events: hour %d, day %d, failed %d, last at %s; want 3, 5, 1, %s",
				d.EventsHour, d.EventsDay, d.FailedDay, d.LastReceivedAt, now.Add(-10*time.Minute))
		}
		if d.Backlog.Pending != 4 || d.Backlog.Failed != 2 || !d.Backlog.OldestPending.Equal(now.Add(-5*time.Hour)) {
			t.Errorf("backlog %+v, want 4 pending since 5 hours ago and 2 failed", d.Backlog)
		}
		if d.Oversold != 1 || d.PaymentMismatch != 2 {
			t.Errorf("oversold %d, payment_mismatch %d; want 1 and 2", d.Oversold, d.PaymentMismatch)
		}
		var disputes []string
		for _, o := range d.Disputes {
			disputes = append(disputes, o.ID)
		}
		if want := []string{"d_soon", "d_mismatch", "d_late", "d_undated"}; !slices.Equal(disputes, want) {
			t.Errorf("open disputes %v, want %v", disputes, want)
		}

		rec.mu.Lock()
		statements, begins := rec.statements, rec.begins
		rec.mu.Unlock()
		if begins != 0 || len(statements) > 4 {
			t.Errorf("%d write transactions and %d statements, want a few reads", begins, len(statements))
		}
		for _, st := range statements {
			if kind == dbtest.SQLite {
				checkSQLiteWalk(t, raw, st)
			} else if read := postgresRowsRead(t, raw, st, "events"); read > 50 {
				t.Errorf("%d rows of events read, of %d, to %s", read, history, st.query)
			}
		}
	})
}

// checkSQLiteWalk fails if SQLite would read a whole table or sort one:
// the only scans allowed are those of the flagged orders' partial indexes
// and the walks back
// along the events' primary key that stop at their first row
// (ORDER BY seq DESC LIMIT 1).
func checkSQLiteWalk(t *testing.T, db *sql.DB, st statement) {
	t.Helper()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+st.query, st.args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	walks := strings.Count(st.query, "ORDER BY seq DESC LIMIT 1")
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		switch {
		case detail == "SCAN events" && walks > 0:
			walks--
		case strings.HasPrefix(detail, "SCAN orders USING ") &&
			(strings.HasSuffix(detail, "INDEX orders_oversold") || strings.HasSuffix(detail, "INDEX orders_payment_mismatch")):
		case strings.Contains(detail, "TEMP B-TREE"), strings.HasPrefix(detail, "SCAN") && detail != "SCAN CONSTANT ROW":
			t.Errorf("%s: %s", detail, st.query)
		}
	}
}

// postgresRowsRead runs a read with EXPLAIN ANALYZE (sequential scans off,
// as on a large table) and returns how many rows of table it went through:
// those it kept and those its filters dropped. It fails on a sequential
// scan.
func postgresRowsRead(t *testing.T, db *sql.DB, st statement, table string) int {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	var plan []byte
	if err := tx.QueryRow(`EXPLAIN (ANALYZE, FORMAT JSON) `+sqlstore.Rebind(st.query), st.args...).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var root []struct{ Plan map[string]any }
	if err := json.Unmarshal(plan, &root); err != nil || len(root) != 1 {
		t.Fatalf("plan %s: %v", plan, err)
	}
	read := 0
	var walk func(node map[string]any)
	walk = func(node map[string]any) {
		if node["Node Type"] == "Seq Scan" {
			t.Errorf("a sequential scan of %v: %s", node["Relation Name"], st.query)
		}
		if node["Relation Name"] == table {
			loops, _ := node["Actual Loops"].(float64)
			rows, _ := node["Actual Rows"].(float64)
			removed, _ := node["Rows Removed by Filter"].(float64)
			rechecked, _ := node["Rows Removed by Index Recheck"].(float64)
			read += int(rows*loops + removed + rechecked)
		}
		children, _ := node["Plans"].([]any)
		for _, c := range children {
			walk(c.(map[string]any))
		}
	}
	walk(root[0].Plan)
	return read
}

// Migration 8 can be undone and done again: its Down leaves the schema of
// migration 7, whose stores do not know the new columns.
func TestMigration8GoesDownAndUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		open(t, kind, url)
		raw := rawDB(t, kind, url)
		dialect, dir := goose.DialectSQLite3, "../../sqlite"
		if kind == dbtest.Postgres {
			dialect, dir = goose.DialectPostgres, "../../postgres"
		}
		p, err := sqlstore.Goose(dialect, raw, os.DirFS(dir))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		columns := `SELECT (SELECT count(*) FROM order_timeline WHERE stock = ''), (SELECT count(*) FROM outbox WHERE event_id = '')`
		if _, err := raw.Exec(columns); err != nil {
			t.Fatalf("after migrating: %v", err)
		}
		if _, err := p.DownTo(ctx, 7); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(columns); err == nil {
			t.Fatal("migration 8's columns are still there after its Down")
		}
		if _, err := p.UpTo(ctx, 8); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(columns); err != nil {
			t.Fatalf("after migrating again: %v", err)
		}
	})
}
