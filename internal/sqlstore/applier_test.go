package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/inbox"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/sqlite"
	"github.com/caisse/caisse/stripe"
)

// A poisoned event in a batch of good ones: the good ones commit, and the
// bad one is retried with backoff, then becomes a dead letter the team is
// alerted about. Three kinds of poison: one the database refuses while the
// batch is written (so the batch is applied again event by event), one
// whose facts make no sense (a dead letter at once, in the batch's own
// transaction), and one whose reading panics.
func TestPoisonedEventsLeaveTheirBatchAlone(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		b := open(t, kind, url, func(s *sqlstore.Store, in *inbox.Inbox) {
			in.MaxAttempts = 2
			in.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
			s.Outbox.Alerts = []string{caisse.RecipientSlack}
			decode := in.Decode
			in.Decode = func(e *caisse.Event) (caisse.EventFacts, error) {
				switch e.ID {
				case "evt_nonsense":
					return caisse.EventFacts{}, caisse.Errorf(caisse.EINVALID, "event %s makes no sense", e.ID)
				case "evt_panic":
					panic("a decoder bug")
				}
				return decode(e)
			}
		})
		// Order o_bad fails when its timeline is written, after its facts
		// and the order itself were, at the batch's write.
		refuseTimeline(t, kind, url, "o_bad")

		var good []string
		for i := range 30 {
			good = append(good, b.receive(t, stripe.Example{Type: "checkout.session.completed",
				EventID: fmt.Sprintf("evt_ok_%d", i), OrderID: fmt.Sprintf("o_%d", i)}))
			if i == 10 {
				b.receive(t, stripe.Example{Type: "checkout.session.completed", EventID: "evt_bad", OrderID: "o_bad"})
				b.receive(t, stripe.Example{Type: "checkout.session.completed", EventID: "evt_nonsense", OrderID: "o_nonsense"})
				b.receive(t, stripe.Example{Type: "checkout.session.completed", EventID: "evt_panic", OrderID: "o_panic"})
			}
		}
		ctx := context.Background()
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		got := waitAll(t, []*bundle{b}, append(good, "evt_bad", "evt_nonsense", "evt_panic"))
		for i, id := range good {
			if got[id].Status != caisse.EventProcessed {
				t.Fatalf("good event %s: %s (%v)", id, got[id].Status, got[id].Err)
			}
			if o, err := b.FindOrder(ctx, fmt.Sprintf("o_%d", i)); err != nil || o.Status != caisse.StatusPaid {
				t.Fatalf("order of good event %s: %+v, %v", id, o, err)
			}
		}
		for id, want := range map[string]struct {
			attempts int
			says     string
		}{"evt_bad": {2, "refused by the test"}, "evt_nonsense": {1, "makes no sense"}, "evt_panic": {2, "a decoder bug"}} {
			e, err := b.FindEvent(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if e.Status != caisse.EventFailed || e.Attempts != want.attempts || !strings.Contains(e.LastError, want.says) {
				t.Fatalf("%s: %s after %d attempts (%q); want failed after %d, saying %q", id, e.Status, e.Attempts, e.LastError, want.attempts, want.says)
			}
		}
		for _, o := range []string{"o_bad", "o_nonsense", "o_panic"} {
			if order, err := b.FindOrder(ctx, o); caisse.ErrorCode(err) != caisse.ENOTFOUND {
				t.Fatalf("a failed event's order %s was kept: %+v, %v", o, order, err)
			}
		}
		dead := alerts(t, b, caisse.TopicDeadLetter)
		if len(dead) != 3 {
			t.Fatalf("%d dead-letter alerts, want one per failed event", len(dead))
		}
	})
}

// Events received while no applier runs are applied together, in a handful
// of transactions of a dozen statements each, not a dozen statements per
// event: the rules read from a view loaded in a few set-based reads, and
// what they change is written back with a few set-based statements.
func TestBatchesTakeFewStatements(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		// Idle, the applier asks for new events every PollInterval (about 180
		// statements a second at the tests' 10 ms): the events here are all
		// waiting when it starts, so it is not left polling while a loaded
		// machine keeps this test from reading the count.
		b := open(t, kind, kind.NewURL(t), func(s *sqlstore.Store, _ *inbox.Inbox) { s.PollInterval = time.Hour })
		ctx := context.Background()
		if _, err := b.PutProduct(ctx, "tee", caisse.NewProductUpdate("Tee", 2500, "eur", 1000)); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range 100 {
			ex := stripe.Example{OrderID: fmt.Sprintf("o_%d", i), ProductID: "tee"}
			for _, typ := range []string{"checkout.session.completed", "payment_intent.succeeded"} {
				ex.Type, ex.EventID = typ, fmt.Sprintf("evt_%s_%d", typ, i)
				ids = append(ids, b.receive(t, ex))
			}
		}
		before := b.Store.Statements.Load()
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitAll(t, []*bundle{b}, ids)
		applying := b.Store.Statements.Load() - before
		for i := range 100 {
			if o, err := b.FindOrder(ctx, fmt.Sprintf("o_%d", i)); err != nil || o.Status != caisse.StatusPaid {
				t.Fatalf("order o_%d: %+v, %v", i, o, err)
			}
		}
		if p, err := b.FindProduct(ctx, "tee"); err != nil || p.Stock != 900 {
			t.Fatalf("stock after 100 sales: %+v, %v", p, err)
		}
		t.Logf("%d events applied with %d statements", len(ids), applying)
		if applying > int64(len(ids))/4 {
			t.Fatalf("%d statements for %d events: want at most one for four", applying, len(ids))
		}
	})
}

// Two instances, each applying two batches at once, share a stream of
// events about a few payments: never do two batches hold one payment's
// lock at the same time, and every event's effects apply once.
func TestConcurrentBatchesNeverShareAPayment(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		var mu sync.Mutex
		holders := map[string]int{}
		var overlaps []string
		batches, active := 0, 0
		arrived := make(chan struct{})
		watch := func(_ *sqlstore.Store, in *inbox.Inbox) {
			in.Appliers = 2
			in.BatchSize = 3
			in.Holding = func(keys []string, held bool) {
				mu.Lock()
				for _, k := range keys {
					if held {
						holders[k]++
						if holders[k] > 1 {
							overlaps = append(overlaps, k)
						}
					} else {
						holders[k]--
					}
				}
				if !held {
					active--
					mu.Unlock()
					return
				}
				batches++
				active++
				close(arrived)
				arrived = make(chan struct{})
				next, alone := arrived, active == 1
				mu.Unlock()
				if alone {
					// Hold on for a moment, until another batch holds
					// locks too: batches that may overlap get the chance.
					select {
					case <-next:
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		}
		stores := []*bundle{open(t, kind, url, watch), open(t, kind, url, watch)}
		ctx := context.Background()
		// Eight payments, each told by six events, stored before the
		// instances start, so that their four appliers all find work at
		// once: batches of three, oldest first, so that most batches
		// speak of payments their neighbours speak of too.
		var ids []string
		for round := range 6 {
			for p := range 8 {
				// No products: their rows, locked by the batch that moves
				// their stock, would keep batches apart on their own.
				ex := stripe.Example{OrderID: fmt.Sprintf("o_%d", p), Amount: 2500}
				switch round {
				case 0:
					ex.Type = "checkout.session.completed"
				case 1:
					ex.Type = "payment_intent.succeeded"
				case 2:
					ex.Type, ex.Refunded = "charge.refunded", 1000
				case 3:
					ex.Type = "charge.dispute.created"
				case 4:
					ex.Type, ex.DisputeStatus = "charge.dispute.updated", "under_review"
				case 5:
					ex.Type, ex.Refunded = "charge.refunded", 2500
				}
				ex.EventID = fmt.Sprintf("evt_%d_%d", round, p)
				ids = append(ids, stores[p%2].receive(t, ex))
			}
		}
		for _, b := range stores {
			if err := b.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		waitAll(t, stores, ids)
		mu.Lock()
		defer mu.Unlock()
		if len(overlaps) > 0 {
			t.Fatalf("two batches held these locks at once: %v", overlaps)
		}
		t.Logf("%d batches", batches)
		for p := range 8 {
			o, err := stores[1].FindOrder(ctx, fmt.Sprintf("o_%d", p))
			if err != nil {
				t.Fatal(err)
			}
			if o.AmountRefunded != 2500 || o.Dispute == nil || len(o.Timeline) == 0 {
				t.Fatalf("order o_%d: %+v", p, o)
			}
		}
	})
}

// The payloads of ignored events are pruned after the retention; their ids
// stay, so Stripe's late retries are still answered as duplicates. Applied
// events, and ignored ones still within the retention, keep theirs.
func TestIgnoredPayloadsArePruned(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		// The applier reads the clock while the test moves it.
		var now atomic.Int64
		now.Store(time.Now().UnixNano())
		clock := func() time.Time { return time.Unix(0, now.Load()) }
		b := open(t, kind, kind.NewURL(t), func(s *sqlstore.Store, in *inbox.Inbox) {
			s.Now = clock
			s.Retention = 90 * 24 * time.Hour
		})
		ctx := context.Background()
		payload := func(typ, id string) []byte {
			if typ == "checkout.session.completed" {
				p, err := stripe.Build(stripe.Example{Type: typ, EventID: id, OrderID: "o_" + id})
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			// A type caisse does not act on.
			return []byte(`{"id":"` + id + `","object":"event","type":"` + typ + `","created":1767225600,"livemode":false,` +
				`"data":{"object":{"id":"cus_` + id + `","object":"customer"}}}`)
		}
		receive := func(p []byte) bool {
			e, err := stripe.DecodeEvent(p)
			if err != nil {
				t.Fatal(err)
			}
			inserted, err := b.ReceiveEvent(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			return inserted
		}
		old := payload("customer.created", "evt_old_unknown")
		receive(old)
		receive(payload("checkout.session.completed", "evt_old_applied"))
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitAll(t, []*bundle{b}, []string{"evt_old_unknown", "evt_old_applied"})

		now.Add(int64(91 * 24 * time.Hour))
		receive(payload("customer.updated", "evt_young_unknown"))
		waitAll(t, []*bundle{b}, []string{"evt_young_unknown"})
		n, err := b.Store.PruneIgnored(ctx)
		if err != nil || n != 1 {
			t.Fatalf("pruned %d (%v), want the one old ignored event", n, err)
		}
		for id, kept := range map[string]bool{"evt_old_unknown": false, "evt_old_applied": true, "evt_young_unknown": true} {
			e, err := b.FindEvent(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if (len(e.Payload) > 0) != kept {
				t.Fatalf("event %s (%s): payload of %d bytes, kept should be %v", id, e.Status, len(e.Payload), kept)
			}
		}
		if receive(old) {
			t.Fatal("a pruned event delivered again was stored again")
		}
		if _, err := b.ReplayEvent(ctx, "evt_old_unknown"); caisse.ErrorCode(err) != caisse.ECONFLICT || !strings.Contains(caisse.ErrorMessage(err), "pruned") {
			t.Fatalf("replaying a pruned event: %v", err)
		}
		// Pruning again finds nothing new and reads only past its cursor.
		if n, err := b.Store.PruneIgnored(ctx); err != nil || n != 0 {
			t.Fatalf("pruned %d again (%v)", n, err)
		}
	})
}

// River is used through its public API only: no code of caisse's (tests
// aside) names one of River's tables, so an upgrade of River cannot break
// caisse by changing them.
func TestNothingNamesRiverTables(t *testing.T) {
	root := filepath.Join("..", "..")
	table := regexp.MustCompile(`\briver_[a-z_]+`)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(path, "_test.go") || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".sql")) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := table.Find(b); m != nil {
			t.Errorf("%s names River's table %s: use River's API instead", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// refuseTimeline makes writing a timeline entry of one order fail, from
// outside caisse.
func refuseTimeline(t *testing.T, kind dbtest.Kind, url, orderID string) {
	t.Helper()
	var db *sql.DB
	var err error
	stmts := []string{`CREATE TRIGGER refuse BEFORE INSERT ON order_timeline
		WHEN NEW.order_id = '` + orderID + `' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`}
	if kind == dbtest.SQLite {
		db, err = sql.Open("sqlite", sqlite.DSN(strings.TrimPrefix(url, "sqlite:")))
	} else {
		db, err = sql.Open("pgx", dbtest.SQLURL(url))
		stmts = []string{
			`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
				$$ BEGIN IF NEW.order_id = '` + orderID + `' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`,
			`CREATE TRIGGER refuse BEFORE INSERT ON order_timeline FOR EACH ROW EXECUTE FUNCTION refuse()`,
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}
