package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/sqlite"
	"github.com/caisse/caisse/stripe"
)

// TestBatchUndoesOnlyTheFailedEvent processes many events in one shared
// transaction, one of which fails half-way through: its writes are undone,
// the others' are kept, and it is tried again later.
func TestBatchUndoesOnlyTheFailedEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		b := open(t, kind, url)
		core := b.Core()
		// Batches on PostgreSQL too, with its 16 workers (set at Open).
		core.BatchSize = 64
		const others = 12
		// The first event's processing waits until every other job is queued
		// behind it, so they all share the next transaction.
		var first sync.Once
		core.Decode = func(e *caisse.Event) (caisse.EventFacts, error) {
			first.Do(func() {
				deadline := time.Now().Add(30 * time.Second)
				for core.JobsWaiting() < others {
					if time.Now().After(deadline) {
						t.Errorf("only %d jobs queued behind the first", core.JobsWaiting())
						return
					}
					time.Sleep(time.Millisecond)
				}
			})
			return stripe.Facts(e)
		}
		// Order o_bad fails when its timeline is written, after its facts
		// and the order itself were.
		refuseTimeline(t, kind, url, "o_bad")

		ctx := context.Background()
		var ids []string
		ids = append(ids, b.receive(t, stripe.Example{Type: "checkout.session.completed", EventID: "evt_first", OrderID: "o_first"}))
		var bad string
		for i := range others {
			if i == others/2 {
				bad = b.receive(t, stripe.Example{Type: "checkout.session.completed", EventID: "evt_bad", OrderID: "o_bad"})
				continue
			}
			ids = append(ids, b.receive(t, stripe.Example{Type: "checkout.session.completed",
				EventID: fmt.Sprintf("evt_ok_%d", i), OrderID: fmt.Sprintf("o_%d", i)}))
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitAll(t, []*bundle{b}, ids)
		for _, id := range ids {
			o := strings.Replace(strings.Replace(id, "evt_ok_", "o_", 1), "evt_", "o_", 1)
			if order, err := b.FindOrder(ctx, o); err != nil || order.Status != caisse.StatusPaid {
				t.Fatalf("order %s after its event %s: %+v, %v", o, id, order, err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			e, err := b.FindEvent(ctx, bad)
			if err != nil {
				t.Fatal(err)
			}
			if e.Attempts > 0 {
				if e.Status != caisse.EventPending || !strings.Contains(e.LastError, "refused by the test") {
					t.Fatalf("failed event: status %s, last error %q; want pending with the cause", e.Status, e.LastError)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the failing event was never attempted")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if o, err := b.FindOrder(ctx, "o_bad"); caisse.ErrorCode(err) != caisse.ENOTFOUND {
			t.Fatalf("the failed event's order was kept: %+v, %v", o, err)
		}
	})
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
