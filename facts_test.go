package caisse

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestFactMerge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		base, add Fact
		want      Fact
	}{
		{
			name: "empty merged with empty stays empty",
			want: Fact{},
		},
		{
			name: "flags only go from false to true",
			base: Fact{Completed: true, Expired: true},
			add:  Fact{SessionPaid: true, AsyncSucceeded: true, AsyncFailed: true, Succeeded: true},
			want: Fact{Completed: true, SessionPaid: true, AsyncSucceeded: true, AsyncFailed: true, Expired: true, Succeeded: true},
		},
		{
			name: "a false flag never clears a true one",
			base: Fact{Completed: true, SessionPaid: true, AsyncSucceeded: true, AsyncFailed: true, Expired: true, Succeeded: true},
			add:  Fact{},
			want: Fact{Completed: true, SessionPaid: true, AsyncSucceeded: true, AsyncFailed: true, Expired: true, Succeeded: true},
		},
		{
			name: "amounts take the maximum (larger incoming)",
			base: Fact{Amount: 100, AmountReceived: 100, AmountRefunded: 100},
			add:  Fact{Amount: 200, AmountReceived: 300, AmountRefunded: 400},
			want: Fact{Amount: 200, AmountReceived: 300, AmountRefunded: 400},
		},
		{
			name: "amounts take the maximum (smaller incoming is ignored)",
			base: Fact{Amount: 1000, AmountReceived: 1000, AmountRefunded: 500},
			add:  Fact{Amount: 10, AmountReceived: 0, AmountRefunded: 200},
			want: Fact{Amount: 1000, AmountReceived: 1000, AmountRefunded: 500},
		},
		{
			name: "late needs_response does not reopen won",
			base: Fact{DisputeStatus: "won"},
			add:  Fact{DisputeStatus: "needs_response"},
			want: Fact{DisputeStatus: "won"},
		},
		{
			name: "late needs_response does not reopen lost",
			base: Fact{DisputeStatus: "lost"},
			add:  Fact{DisputeStatus: "needs_response"},
			want: Fact{DisputeStatus: "lost"},
		},
		{
			name: "late under_review does not reopen warning_closed",
			base: Fact{DisputeStatus: "warning_closed"},
			add:  Fact{DisputeStatus: "warning_under_review"},
			want: Fact{DisputeStatus: "warning_closed"},
		},
		{
			name: "dispute moves forward needs_response to under_review",
			base: Fact{DisputeStatus: "needs_response"},
			add:  Fact{DisputeStatus: "under_review"},
			want: Fact{DisputeStatus: "under_review"},
		},
		{
			name: "dispute moves forward under_review to lost",
			base: Fact{DisputeStatus: "under_review"},
			add:  Fact{DisputeStatus: "lost"},
			want: Fact{DisputeStatus: "lost"},
		},
		{
			name: "lost outranks won",
			base: Fact{DisputeStatus: "lost"},
			add:  Fact{DisputeStatus: "won"},
			want: Fact{DisputeStatus: "lost"},
		},
		{
			name: "an empty dispute status never erases one",
			base: Fact{DisputeStatus: "needs_response"},
			add:  Fact{},
			want: Fact{DisputeStatus: "needs_response"},
		},
		{
			name: "unknown status ranks below needs_response",
			base: Fact{DisputeStatus: "needs_response"},
			add:  Fact{DisputeStatus: "something_new"},
			want: Fact{DisputeStatus: "needs_response"},
		},
		{
			name: "latest payment error wins (incoming later)",
			base: Fact{PaymentError: "card declined", PaymentErrorAt: 100},
			add:  Fact{PaymentError: "insufficient funds", PaymentErrorAt: 200},
			want: Fact{PaymentError: "insufficient funds", PaymentErrorAt: 200},
		},
		{
			name: "latest payment error wins (incoming earlier)",
			base: Fact{PaymentError: "insufficient funds", PaymentErrorAt: 200},
			add:  Fact{PaymentError: "card declined", PaymentErrorAt: 100},
			want: Fact{PaymentError: "insufficient funds", PaymentErrorAt: 200},
		},
		{
			name: "payment error at the same time settles on the greater message",
			base: Fact{PaymentError: "a", PaymentErrorAt: 100},
			add:  Fact{PaymentError: "b", PaymentErrorAt: 100},
			want: Fact{PaymentError: "b", PaymentErrorAt: 100},
		},
		{
			name: "no error does not erase an error",
			base: Fact{PaymentError: "card declined", PaymentErrorAt: 100},
			add:  Fact{Succeeded: true},
			want: Fact{PaymentError: "card declined", PaymentErrorAt: 100, Succeeded: true},
		},
		{
			name: "failed attempts are a sorted union without duplicates",
			base: Fact{FailedAttempts: []string{"evt_1", "evt_3"}},
			add:  Fact{FailedAttempts: []string{"evt_2", "evt_3", "evt_4"}},
			want: Fact{FailedAttempts: []string{"evt_1", "evt_2", "evt_3", "evt_4"}},
		},
		{
			name: "failed attempts into none",
			base: Fact{},
			add:  Fact{FailedAttempts: []string{"evt_9"}},
			want: Fact{FailedAttempts: []string{"evt_9"}},
		},
		{
			name: "strings: non-empty beats empty",
			base: Fact{ID: "pi_1", Kind: KindPaymentIntent},
			add: Fact{ID: "pi_1", OrderRef: "ord_1", PaymentIntent: "pi_x", Charge: "ch_1",
				Currency: "eur", CustomerEmail: "a@example.com", UnknownItems: "bad"},
			want: Fact{ID: "pi_1", Kind: KindPaymentIntent, OrderRef: "ord_1", PaymentIntent: "pi_x", Charge: "ch_1",
				Currency: "eur", CustomerEmail: "a@example.com", UnknownItems: "bad"},
		},
		{
			name: "strings: empty never erases",
			base: Fact{OrderRef: "ord_1", Currency: "eur", CustomerEmail: "a@example.com"},
			add:  Fact{},
			want: Fact{OrderRef: "ord_1", Currency: "eur", CustomerEmail: "a@example.com"},
		},
		{
			name: "strings: two values settle on the greater",
			base: Fact{OrderRef: "ord_b", Currency: "eur", CustomerEmail: "b@example.com"},
			add:  Fact{OrderRef: "ord_a", Currency: "usd", CustomerEmail: "a@example.com"},
			want: Fact{OrderRef: "ord_b", Currency: "usd", CustomerEmail: "b@example.com"},
		},
		{
			name: "items: some beat none",
			base: Fact{},
			add:  Fact{Items: []Item{{"a", 1}}},
			want: Fact{Items: []Item{{"a", 1}}},
		},
		{
			name: "items: none never erase some",
			base: Fact{Items: []Item{{"a", 1}}},
			add:  Fact{},
			want: Fact{Items: []Item{{"a", 1}}},
		},
		{
			name: "items: two lists settle on the greater formatted one",
			base: Fact{Items: []Item{{"b", 1}}},
			add:  Fact{Items: []Item{{"a", 5}}},
			want: Fact{Items: []Item{{"b", 1}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.base
			got.Merge(tt.add)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("base.Merge(add):\n got %+v\nwant %+v", got, tt.want)
			}
			// Commutative: merging the other way gives the same.
			rev := tt.add
			rev.Merge(tt.base)
			if !reflect.DeepEqual(rev, tt.want) {
				t.Errorf("add.Merge(base):\n got %+v\nwant %+v", rev, tt.want)
			}
			// Idempotent: merging the result again, or either input again, changes nothing.
			again := got
			again.Merge(tt.add)
			again.Merge(tt.base)
			again.Merge(got)
			if !reflect.DeepEqual(again, tt.want) {
				t.Errorf("merging again:\n got %+v\nwant %+v", again, tt.want)
			}
		})
	}
}

// randomFact returns a random fact about the object id, with a mix of every
// kind of field, as events about one object could carry.
func randomFact(r *rand.Rand, id string) Fact {
	pick := func(vals ...string) string { return vals[r.IntN(len(vals))] }
	f := Fact{
		ID:             id,
		Kind:           FactKind(pick("", string(KindPaymentIntent))),
		OrderRef:       pick("", "", "ord_1", "ord_2"),
		PaymentIntent:  pick("", "pi_1", "pi_2"),
		Charge:         pick("", "ch_1"),
		Completed:      r.IntN(2) == 0,
		SessionPaid:    r.IntN(3) == 0,
		AsyncSucceeded: r.IntN(4) == 0,
		AsyncFailed:    r.IntN(4) == 0,
		Expired:        r.IntN(4) == 0,
		Succeeded:      r.IntN(3) == 0,
		AmountReceived: int64(r.IntN(3)) * 500,
		Amount:         int64(r.IntN(4)) * 250,
		Currency:       pick("", "eur", "usd"),
		CustomerEmail:  pick("", "a@example.com", "b@example.com"),
		UnknownItems:   pick("", "", "bad items"),
		AmountRefunded: int64(r.IntN(4)) * 100,
		DisputeStatus: pick("", "warning_needs_response", "needs_response", "warning_under_review",
			"under_review", "warning_closed", "won", "lost", "charge_refunded"),
	}
	if r.IntN(2) == 0 {
		f.PaymentErrorAt = int64(1000 + r.IntN(3))
		f.PaymentError = pick("card declined", "insufficient funds", "expired card")
	}
	if r.IntN(2) == 0 {
		f.FailedAttempts = []string{fmt.Sprintf("evt_%d", r.IntN(5))}
		if r.IntN(2) == 0 {
			f.FailedAttempts = append(f.FailedAttempts, "evt_9")
		}
	}
	if r.IntN(2) == 0 {
		f.Shipping = &Shipping{Name: pick("", "Camille Martin", "Ada"), Phone: pick("", "+33 6 12 34 56 78"),
			Address: Address{Line1: pick("", "12 rue des Lilas"), City: pick("Lyon", "Paris"), Country: pick("", "FR")}}
	}
	f.AmountShipping, f.AmountTax, f.AmountDiscount = int64(r.IntN(3))*500, int64(r.IntN(3))*100, int64(r.IntN(2))*200
	switch r.IntN(3) {
	case 1:
		f.Items = []Item{{ProductID: pick("a", "b"), Quantity: int64(1 + r.IntN(3))}}
	case 2:
		f.Items = []Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: int64(1 + r.IntN(3))}}
	}
	return f
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}

func TestFactMergeOrderAndDuplicatesDoNotMatter(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 60 {
		n := 2 + round%4 // 2..5 facts: up to 120 permutations
		facts := make([]Fact, n)
		for i := range facts {
			facts[i] = randomFact(r, "pi_obj")
		}
		var want Fact
		for i, perm := range permutations(n) {
			var got Fact
			for _, j := range perm {
				got.Merge(facts[j])
			}
			if i == 0 {
				want = got
			} else if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: permutation %v gives\n%+v\nwant (permutation %v)\n%+v\nfacts: %+v",
					round, perm, got, permutations(n)[0], want, facts)
			}
			// Merging any fact a second time, anywhere, changes nothing.
			dup := got
			dup.Merge(facts[perm[len(perm)/2]])
			dup.Merge(facts[perm[0]])
			if !reflect.DeepEqual(dup, want) {
				t.Fatalf("round %d: merging a duplicate changed\n%+v\ninto\n%+v", round, want, dup)
			}
			// Merging an already merged fact into itself changes nothing.
			self := got
			self.Merge(got)
			if !reflect.DeepEqual(self, want) {
				t.Fatalf("round %d: merging into itself changed\n%+v\ninto\n%+v", round, want, self)
			}
		}
		// Associative: merging two halves then combining gives the same.
		var left, right Fact
		for _, f := range facts[:n/2] {
			left.Merge(f)
		}
		for _, f := range facts[n/2:] {
			right.Merge(f)
		}
		right.Merge(left)
		if !reflect.DeepEqual(right, want) {
			t.Fatalf("round %d: merging halves gives\n%+v\nwant\n%+v", round, right, want)
		}
		// Monotonic: the merged fact carries the strongest of each field.
		for _, f := range facts {
			if f.Amount > want.Amount || f.AmountRefunded > want.AmountRefunded || f.AmountReceived > want.AmountReceived {
				t.Fatalf("round %d: an amount went down: %+v merged into %+v", round, f, want)
			}
			if DisputeRank(f.DisputeStatus) > DisputeRank(want.DisputeStatus) {
				t.Fatalf("round %d: dispute status %q went back to %q", round, f.DisputeStatus, want.DisputeStatus)
			}
			if (f.Completed && !want.Completed) || (f.Succeeded && !want.Succeeded) || (f.Expired && !want.Expired) {
				t.Fatalf("round %d: a flag was cleared", round)
			}
			if f.PaymentErrorAt > want.PaymentErrorAt {
				t.Fatalf("round %d: an older payment error won", round)
			}
			for _, a := range f.FailedAttempts {
				if !slices.Contains(want.FailedAttempts, a) {
					t.Fatalf("round %d: failed attempt %s lost", round, a)
				}
			}
		}
		if !slices.IsSorted(want.FailedAttempts) || len(slices.Compact(slices.Clone(want.FailedAttempts))) != len(want.FailedAttempts) {
			t.Fatalf("round %d: failed attempts not sorted and unique: %v", round, want.FailedAttempts)
		}
	}
}

func TestDisputeRankAndOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status string
		rank   int
		open   bool
	}{
		{"", 0, false},
		{"something_new", 1, true},
		{"warning_needs_response", 2, true},
		{"needs_response", 2, true},
		{"warning_under_review", 3, true},
		{"under_review", 3, true},
		{"warning_closed", 4, false},
		{"won", 5, false},
		{"lost", 6, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.status), func(t *testing.T) {
			t.Parallel()
			if got := DisputeRank(tt.status); got != tt.rank {
				t.Errorf("DisputeRank(%q) = %d, want %d", tt.status, got, tt.rank)
			}
			if got := DisputeOpen(tt.status); got != tt.open {
				t.Errorf("DisputeOpen(%q) = %t, want %t", tt.status, got, tt.open)
			}
		})
	}
	// Stripe's life of a dispute, strictly increasing.
	life := []string{"", "needs_response", "under_review", "warning_closed", "won", "lost"}
	for i := 1; i < len(life); i++ {
		if DisputeRank(life[i-1]) >= DisputeRank(life[i]) {
			t.Errorf("DisputeRank(%q) >= DisputeRank(%q)", life[i-1], life[i])
		}
	}
}

func TestEventFactsObjectIDs(t *testing.T) {
	t.Parallel()
	ef := EventFacts{Facts: []Fact{{ID: "cs_1"}, {ID: "pi_1"}}}
	if got, want := ef.ObjectIDs(), []string{"cs_1", "pi_1"}; !slices.Equal(got, want) {
		t.Errorf("ObjectIDs() = %v, want %v", got, want)
	}
	if got := (EventFacts{}).ObjectIDs(); len(got) != 0 {
		t.Errorf("ObjectIDs() of nothing = %v", got)
	}
}
