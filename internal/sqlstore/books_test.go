package sqlstore_test

import (
	"context"
	"testing"

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
