package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/sqlstore"
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

// TestJobsComplete processes events and reads their jobs back through
// River: each is completed, with a finalized time River can read, and none
// is left to run.
func TestJobsComplete(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		b := open(t, kind, url)
		var ids []string
		for i := range 30 {
			ids = append(ids, b.receive(t, stripe.Example{Type: "checkout.session.completed",
				EventID: fmt.Sprintf("evt_%d", i), OrderID: fmt.Sprintf("o_%d", i)}))
		}
		before := time.Now().Add(-time.Second)
		ctx := context.Background()
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitAll(t, []*bundle{b}, ids)
		if n := queuedJobs(t, kind, url); n != 0 {
			t.Fatalf("%d jobs left to run", n)
		}
		jobs := listJobs(t, kind, url)
		completed := 0
		for _, j := range jobs {
			if j.Kind != (sqlstore.ProcessEventArgs{}).Kind() {
				continue
			}
			if j.State != rivertype.JobStateCompleted || j.FinalizedAt == nil || j.FinalizedAt.Before(before) || j.FinalizedAt.After(time.Now().Add(time.Second)) {
				t.Fatalf("job %d: state %s, finalized at %v", j.ID, j.State, j.FinalizedAt)
			}
			completed++
		}
		if completed != len(ids) {
			t.Fatalf("%d completed jobs, want %d", completed, len(ids))
		}
		if kind == dbtest.SQLite {
			// River's cleaner finds old jobs by comparing finalized_at as
			// text in its own format: the times must sort among River's.
			db, err := sql.Open("sqlite", sqlite.DSN(strings.TrimPrefix(url, "sqlite:")))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			format := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'process_event' AND finalized_at > ? AND finalized_at < ?`,
				format(before), format(time.Now().Add(time.Minute))).Scan(&n); err != nil || n != len(ids) {
				t.Fatalf("%d jobs finalized in River's time format (%v), want %d", n, err, len(ids))
			}
		}
	})
}

// listJobs reads every job through a River client of its own, as River's
// own tools would.
func listJobs(t *testing.T, kind dbtest.Kind, url string) []*rivertype.JobRow {
	t.Helper()
	if kind == dbtest.SQLite {
		db, err := sql.Open("sqlite", sqlite.DSN(strings.TrimPrefix(url, "sqlite:")))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return jobList(t, riversqlite.New(db))
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	return jobList(t, riverpgxv5.New(pool))
}

// queuedJobs counts the processing jobs that wait or run.
func queuedJobs(t *testing.T, kind dbtest.Kind, url string) int {
	t.Helper()
	n := 0
	for _, j := range listJobs(t, kind, url) {
		if j.Kind == (sqlstore.ProcessEventArgs{}).Kind() && j.FinalizedAt == nil {
			n++
		}
	}
	return n
}

func jobList[TTx any](t *testing.T, driver riverdriver.Driver[TTx]) []*rivertype.JobRow {
	t.Helper()
	c, err := river.NewClient(driver, &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.JobList(context.Background(), river.NewJobListParams().First(1000))
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}
