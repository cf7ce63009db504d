package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/caisse/caisse/inbox"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/sqlite"
	"github.com/caisse/caisse/stripe"
)

// recordingDriver records the statements run through it.
type recordingDriver struct {
	sqlstore.Driver
	mu         sync.Mutex
	statements []statement
	begins     int
}

type statement struct {
	query string
	args  []any
}

func (d *recordingDriver) Begin(ctx context.Context) (sqlstore.Tx, error) {
	d.mu.Lock()
	d.begins++
	d.mu.Unlock()
	return d.Driver.Begin(ctx)
}

func (d *recordingDriver) Reader() sqlstore.Querier { return recordingQuerier{d.Driver.Reader(), d} }

func (d *recordingDriver) record(query string, args []any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.statements = append(d.statements, statement{query, args})
}

func (d *recordingDriver) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.statements, d.begins = nil, 0
}

type recordingQuerier struct {
	sqlstore.Querier
	d *recordingDriver
}

func (q recordingQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	q.d.record(query, args)
	return q.Querier.Exec(ctx, query, args...)
}

func (q recordingQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	q.d.record(query, args)
	return q.Querier.Query(ctx, query, args...)
}

func (q recordingQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	q.d.record(query, args)
	return q.Querier.QueryRow(ctx, query, args...)
}

// The metrics' backlog counts pending and failed events through the status
// index and reads nothing else: not the processed events, whose number only
// grows, and not the job queue's tables. Each statement's plan is checked:
// every read of the events table is an index search on a status.
func TestEventBacklogReadsOnlyWhatWaits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		var rec *recordingDriver
		b := open(t, kind, url, func(s *sqlstore.Store, in *inbox.Inbox) {
			rec = &recordingDriver{Driver: s.Driver}
			s.Driver = rec
		})
		ctx := context.Background()
		before := time.Now().Add(-time.Second)
		for i := range 50 {
			b.receive(t, stripe.Example{Type: "checkout.session.expired", EventID: fmt.Sprintf("evt_%02d", i), OrderID: "o1"})
		}
		var raw *sql.DB
		var err error
		if kind == dbtest.SQLite {
			raw, err = sql.Open("sqlite", sqlite.DSN(strings.TrimPrefix(url, "sqlite:")))
		} else {
			raw, err = sql.Open("pgx", dbtest.SQLURL(url))
		}
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		for _, q := range []string{
			`UPDATE events SET status = 'processed' WHERE id < 'evt_45'`,
			`UPDATE events SET status = 'failed' WHERE id IN ('evt_45', 'evt_46')`,
		} {
			if _, err := raw.Exec(q); err != nil {
				t.Fatal(err)
			}
		}

		rec.reset()
		backlog, err := b.EventBacklog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if backlog.Pending != 3 || backlog.Failed != 2 || backlog.OldestPending.Before(before) || backlog.OldestPending.After(time.Now()) {
			t.Fatalf("backlog %+v, want 3 pending since the test began and 2 failed", backlog)
		}
		rec.mu.Lock()
		statements, begins := rec.statements, rec.begins
		rec.mu.Unlock()
		if begins != 0 || len(statements) == 0 {
			t.Fatalf("%d write transactions and %d statements", begins, len(statements))
		}
		for _, st := range statements {
			if strings.Contains(st.query, "river") {
				t.Errorf("the backlog reads the job queue's tables: %s", st.query)
			}
			if kind == dbtest.SQLite {
				checkSQLitePlan(t, raw, st)
			} else {
				checkPostgresPlan(t, raw, st)
			}
		}
	})
}

// checkSQLitePlan fails if SQLite would scan a table or a whole index.
func checkSQLitePlan(t *testing.T, db *sql.DB, st statement) {
	t.Helper()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+st.query, st.args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		// A SELECT without FROM "scans" its one constant row.
		if strings.HasPrefix(detail, "SCAN") && detail != "SCAN CONSTANT ROW" {
			t.Errorf("%s: %s, want only index searches", detail, st.query)
		}
	}
}

// checkPostgresPlan fails if PostgreSQL would read a table other than
// tables (events and the outbox when none are named), or one of them other
// than through an index condition (with sequential scans off, as on a large
// table, so the plan does not depend on this one's few rows).
func checkPostgresPlan(t *testing.T, db *sql.DB, st statement, tables ...string) {
	t.Helper()
	if len(tables) == 0 {
		tables = []string{"events", "outbox"}
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	var plan []byte
	if err := tx.QueryRow(`EXPLAIN (FORMAT JSON) `+sqlstore.Rebind(st.query), st.args...).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var root []struct{ Plan map[string]any }
	if err := json.Unmarshal(plan, &root); err != nil || len(root) != 1 {
		t.Fatalf("plan %s: %v", plan, err)
	}
	var walk func(node map[string]any)
	walk = func(node map[string]any) {
		if rel, _ := node["Relation Name"].(string); rel != "" {
			// A bitmap heap scan reads the rows its index scans found
			// (PostgreSQL leaves out the recheck of a boolean column's).
			_, index := node["Index Cond"]
			_, bitmap := node["Recheck Cond"]
			if node["Node Type"] == "Bitmap Heap Scan" {
				children, _ := node["Plans"].([]any)
				for _, c := range children {
					_, cond := c.(map[string]any)["Index Cond"]
					bitmap = bitmap || cond
				}
			}
			if !slices.Contains(tables, rel) || !index && !bitmap {
				t.Errorf("%s of %s without an index condition: %s", node["Node Type"], rel, st.query)
			}
		}
		children, _ := node["Plans"].([]any)
		for _, c := range children {
			walk(c.(map[string]any))
		}
	}
	walk(root[0].Plan)
}
