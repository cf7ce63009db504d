package sqlstore_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/stripe"
)

// The books converge whatever order they are learnt in: a payout's list
// that brings a charge's figures before the charge's order exists, the
// charge's event naming the same transaction by id, the payout's event
// twice. The transaction ends linked to the order and the payout, known,
// and queued for no lookup.
func TestBooksConverge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		b := open(t, kind, kind.NewURL(t))
		ctx := context.Background()
		listed := caisse.BalanceTransaction{ID: "txn_o1", Type: "charge", Source: "ch_o1", Charge: "ch_o1", Amount: 2500, Fee: 100, Net: 2400,
			Currency: "eur", Created: 1, Payout: "po_1", Known: true}
		if err := b.Store.PutBalance(ctx, []caisse.BalanceTransaction{listed}); err != nil {
			t.Fatal(err)
		}
		if books, err := b.Store.OrderBooks(ctx, "o1"); err != nil || books.Fee != nil {
			t.Fatalf("books of an order not there yet: %+v, %v", books, err)
		}
		payout := stripe.Example{Type: "payout.paid", Payout: "po_1", Amount: 2400, Currency: "eur"}
		ids := []string{
			b.receive(t, stripe.Example{Type: "checkout.session.completed", OrderID: "o1"}),
			b.receive(t, stripe.Example{Type: "payment_intent.succeeded", OrderID: "o1"}),
			b.receive(t, stripe.Example{Type: "charge.succeeded", OrderID: "o1", BalanceTransaction: "txn_o1"}),
			b.receive(t, payout),
			b.receive(t, payout),
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for id, r := range waitAll(t, []*bundle{b}, ids) {
			if r.Status != caisse.EventProcessed {
				t.Fatalf("event %s: %s %v", id, r.Status, r.Err)
			}
		}
		books, err := b.Store.OrderBooks(ctx, "o1")
		if err != nil || books.Fee == nil || *books.Fee != 100 || *books.Net != 2400 || books.Payout == nil || books.Payout.ID != "po_1" ||
			books.Pending || len(books.BalanceTransactions) != 1 || books.BalanceTransactions[0].OrderID != "o1" {
			t.Fatalf("books: %+v, %v", books, err)
		}
		rep, err := b.Store.FindPayout(ctx, "po_1")
		if err != nil || len(rep.Orders) != 1 || rep.Orders[0].OrderID != "o1" || rep.Difference != 0 || rep.Payout.Status != "paid" {
			t.Fatalf("payout: %+v, %v", rep, err)
		}
		// The stored row names its order itself, not only through the charge.
		var order string
		if err := b.Store.Driver.Reader().QueryRow(ctx, `SELECT order_id FROM balance_transactions WHERE id = ?`, "txn_o1").Scan(&order); err != nil || order != "o1" {
			t.Fatalf("stored order %q, %v", order, err)
		}
	})
}

// countingWriter counts what is written to it and keeps nothing.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// A year of a busy shop (100,000 movements) exports in constant memory:
// the live heap, measured as the rows stream into the CSV, stays within a
// few MiB of what it was before, far below what holding the rows would
// take (the CSV alone is over 7 MB). The test is not parallel, so no other
// test's allocations count (parallel tests wait for the others to end).
func TestExportInConstantMemory(t *testing.T) {
	for _, kind := range dbtest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			if kind == dbtest.Postgres {
				dbtest.RequirePostgres(t)
			}
			exportInConstantMemory(t, kind)
		})
	}
}

func exportInConstantMemory(t *testing.T, kind dbtest.Kind) {
	{
		b := open(t, kind, kind.NewURL(t))
		ctx := context.Background()
		const rows = 100_000
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		seedBalance(t, b, rows, start.Unix(), 300)
		heap := func() uint64 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		var before, peak uint64
		out := &countingWriter{}
		w := caisse.NewSalesCSV(out, time.UTC, "en")
		n := 0
		err := b.Store.EachMovement(ctx, caisse.BooksFilter{From: start, To: start.AddDate(1, 0, 0), Orders: true}, func(e caisse.BooksEntry) error {
			n++
			if n == 1 {
				// The baseline: the export under way, its cursor open.
				before = heap()
			}
			if n%10_000 == 0 {
				peak = max(peak, heap())
			}
			return w.Write(caisse.MovementOf(e))
		})
		if err == nil {
			err = w.Close()
		}
		if err != nil || n != rows || out.n < 7_000_000 {
			t.Fatalf("exported %d rows, %d bytes: %v", n, out.n, err)
		}
		const bound = 8 << 20
		if peak > before+bound {
			t.Errorf("the live heap grew from %d to %d bytes while exporting: over %d", before, peak, bound)
		}
		t.Logf("%d rows, %d bytes of CSV; live heap %d before, %d at most during", n, out.n, before, peak)
	}
}

// seedBalance stores n known test-mode charges of 25.00 € and more, the
// first at from (Unix seconds), then one every step seconds (negative:
// going back), in one statement.
func seedBalance(t testing.TB, b *bundle, n int, from, step int64) {
	t.Helper()
	ctx := context.Background()
	wr, err := b.Store.Driver.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wr.Exec(ctx, `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO balance_transactions (id, type, source, charge, amount, fee, net, currency, created, known, livemode)
		SELECT 'txn_' || i, 'charge', 'ch_' || i, 'ch_' || i, 2500 + i, 100, 2400 + i, 'eur', ? + i * ?, TRUE, FALSE FROM n`,
		n, from, step); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkBooks90Days measures what the dashboard's money reads: 90 days
// of a shop taking 1,000 payments a day, summed by quarter of an hour
// (summed), and, to compare, read row by row (rows).
func BenchmarkBooks90Days(b *testing.B) {
	for _, kind := range dbtest.Kinds {
		b.Run(string(kind), func(b *testing.B) {
			if kind == dbtest.Postgres {
				dbtest.RequirePostgres(b)
			}
			st := openBench(b, kind)
			now := time.Now()
			seedBalance(b, st, 90_000, now.Unix(), -86)
			period := caisse.LastDays(now, 90, time.UTC)
			b.Run("summed", func(b *testing.B) {
				for range b.N {
					r, _, err := caisse.BuildReport(context.Background(), st.Store, period, time.UTC, false)
					if err != nil || r.Report(caisse.Period{}).Currencies[0].Payments < 89_000 {
						b.Fatal(err)
					}
				}
			})
			b.Run("rows", func(b *testing.B) {
				for range b.N {
					r := caisse.NewReportBuilder(period, time.UTC)
					err := st.Store.EachMovement(context.Background(), caisse.BooksFilter{From: period.Start(), To: period.End()},
						func(e caisse.BooksEntry) error { r.Add(caisse.MovementOf(e)); return nil })
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
