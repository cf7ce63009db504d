package caisse_test

import (
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// orderFacts returns the facts of one order's usual life: session, payment,
// charge, refund, dispute.
func orderFacts(b *testing.B) []caisse.Fact {
	var facts []caisse.Fact
	for _, typ := range []string{"checkout.session.completed", "payment_intent.succeeded", "charge.refunded", "charge.dispute.created"} {
		payload, err := stripe.Build(stripe.Example{Type: typ, OrderID: "o1", Refunded: 500})
		if err != nil {
			b.Fatal(err)
		}
		e, err := stripe.DecodeEvent(payload)
		if err != nil {
			b.Fatal(err)
		}
		ef, err := stripe.Facts(e)
		if err != nil {
			b.Fatal(err)
		}
		facts = append(facts, ef.Facts...)
	}
	return facts
}

// BenchmarkMerge measures merging an event's facts into stored ones.
func BenchmarkMerge(b *testing.B) {
	facts := orderFacts(b)
	for b.Loop() {
		for _, f := range facts {
			cur := f
			cur.Merge(f)
		}
	}
}

// BenchmarkSummarize measures deriving an order's status, amounts and
// items from its facts, done for each affected order of each event.
func BenchmarkSummarize(b *testing.B) {
	facts := orderFacts(b)
	for b.Loop() {
		if s := caisse.Summarize(facts, nil); s.Status == "" {
			b.Fatal("no status")
		}
	}
}
