package caisse

import (
	"math/rand/v2"
	"testing"
)

// TestBalanceMergeConverges merges readings of one balance transaction (the
// id from an event, the figures from Stripe, the payout from its list) in
// every order, each more than once: the result is always the same.
func TestBalanceMergeConverges(t *testing.T) {
	t.Parallel()
	readings := []BalanceTransaction{
		{ID: "txn_1", Source: "ch_1", Charge: "ch_1"},
		{ID: "txn_1", Type: "charge", Source: "ch_1", Amount: 2500, Fee: 103, Net: 2397, Currency: "eur", Created: 10, AvailableOn: 20, Known: true},
		{ID: "txn_1", Payout: "po_1", Type: "charge", Source: "ch_1", Charge: "ch_1", Amount: 2500, Fee: 103, Net: 2397, Currency: "eur", Created: 10, AvailableOn: 20, Known: true},
		{ID: "txn_1", OrderID: "o1"},
	}
	want := BalanceTransaction{ID: "txn_1", Type: "charge", Source: "ch_1", Charge: "ch_1", OrderID: "o1", Amount: 2500, Fee: 103, Net: 2397,
		Currency: "eur", Created: 10, AvailableOn: 20, Payout: "po_1", Known: true}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var got BalanceTransaction
		for _, i := range r.Perm(len(readings) * 2) {
			got.Merge(readings[i%len(readings)])
		}
		if got != want {
			t.Fatalf("merged %+v, want %+v", got, want)
		}
	}
}

// TestPayoutMergeFailsForGood: a payout paid then failed (the bank returned
// it) is failed, whatever order the events come in.
func TestPayoutMergeFailsForGood(t *testing.T) {
	t.Parallel()
	paid := Payout{ID: "po_1", Amount: 9000, Currency: "eur", Status: "paid", Automatic: true, ArrivalDate: 100}
	failed := Payout{ID: "po_1", Amount: 9000, Currency: "eur", Status: "failed", FailureCode: "account_closed", ArrivalDate: 100}
	a, b := paid, failed
	a.Merge(failed)
	b.Merge(paid)
	if a != b || a.Status != "failed" || !a.Automatic {
		t.Fatalf("paid+failed = %+v, failed+paid = %+v", a, b)
	}
}

// TestBooksAddUp: an order's fee and net count its charge, its refund and
// its lost dispute with their own fees; a payout's report adds its lines up
// to its amount, and a difference shows.
func TestBooksAddUp(t *testing.T) {
	t.Parallel()
	txns := []BalanceTransaction{
		{ID: "txn_c", Type: "charge", Source: "ch_1", Charge: "ch_1", Amount: 20000, Fee: 610, Net: 19390, Currency: "eur", Payout: "po_1", Created: 1, Known: true},
		{ID: "txn_r", Type: "refund", Source: "re_1", Charge: "ch_1", Amount: -2000, Fee: 0, Net: -2000, Currency: "eur", Payout: "po_1", Created: 2, Known: true},
		{ID: "txn_d", Type: "adjustment", Source: "dp_1", Charge: "ch_1", Amount: -8000, Fee: 1500, Net: -9500, Currency: "eur", Payout: "po_1", Created: 3, Known: true},
		{ID: "txn_p", Type: "payout", Source: "po_1", Amount: -7890, Net: -7890, Currency: "eur", Payout: "po_1", Created: 4, Known: true},
	}
	b := BooksOf(txns[:3], map[string]Payout{"po_1": {ID: "po_1", ArrivalDate: 86400, Status: "paid"}})
	if b.Fee == nil || *b.Fee != 2110 || *b.Net != 7890 || b.FeeCurrency != "eur" || b.Payout == nil || b.Payout.ID != "po_1" {
		t.Fatalf("books %+v", b)
	}
	pending := BooksOf([]BalanceTransaction{{ID: "txn_x", Source: "ch_2", Charge: "ch_2"}}, nil)
	if pending.Fee != nil || !pending.Pending {
		t.Fatalf("books of an unknown transaction %+v", pending)
	}
	rep := ReportPayout(Payout{ID: "po_1", Amount: 7890}, txns)
	if len(rep.Orders) != 1 || len(rep.Refunds) != 1 || len(rep.Disputes) != 1 || len(rep.Other) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if rep.Gross-rep.Fee != rep.Net || rep.Net != 7890 || rep.Difference != 0 {
		t.Fatalf("report adds up to gross %d fee %d net %d difference %d", rep.Gross, rep.Fee, rep.Net, rep.Difference)
	}
	short := ReportPayout(Payout{ID: "po_1", Amount: 8000}, txns)
	if short.Difference != -110 {
		t.Fatalf("a payout of 8000 carrying 7890 differs by %d", short.Difference)
	}
}

// Applying a payout event records the payout and its own balance
// transaction; a failed one writes the team's alert once, however often it
// is applied.
func TestApplyPayout(t *testing.T) {
	t.Parallel()
	l := newMemLedger(nil)
	r := Rules{Now: ticking()}
	p := Payout{ID: "po_1", Amount: 9000, Currency: "eur", Status: "failed", Automatic: true, FailureCode: "account_closed"}
	ef := EventFacts{Payout: &p, Balance: []BalanceTransaction{{ID: "txn_po_1", Type: "payout", Source: "po_1", Payout: "po_1"}}}
	for range 2 {
		if _, err := r.Apply(t.Context(), l, &Event{ID: "evt_1", Type: "payout.failed"}, ef); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.payouts["po_1"]; got != p {
		t.Fatalf("payout %+v", got)
	}
	if got := l.balance["txn_po_1"]; got.Payout != "po_1" || got.Known {
		t.Fatalf("its transaction %+v", got)
	}
	if len(l.keys) != 1 || l.outbox[l.keys[0]].Topic != TopicPayoutFailed {
		t.Fatalf("outbox %v", l.keys)
	}
}
