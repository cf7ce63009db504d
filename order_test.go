package caisse

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestDeriveStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   StatusFacts
		want OrderStatus
	}{
		// One row per row of the status table in docs/domain.md.
		{"disputed: a dispute is open", StatusFacts{DisputeOpen: true, Paid: true, AmountPaid: 1000}, StatusDisputed},
		{"dispute_lost: a dispute was lost", StatusFacts{DisputeLost: true, Paid: true, AmountPaid: 1000}, StatusDisputeLost},
		{"refunded: 0 < paid <= refunded", StatusFacts{Paid: true, AmountPaid: 1000, AmountRefunded: 1000}, StatusRefunded},
		{"partially_refunded: 0 < refunded < paid", StatusFacts{Paid: true, AmountPaid: 1000, AmountRefunded: 500}, StatusPartiallyRefunded},
		{"paid", StatusFacts{Paid: true, AmountPaid: 1000}, StatusPaid},
		{"payment_failed: async payment failed", StatusFacts{AsyncFailed: true, AwaitingPayment: true}, StatusPaymentFailed},
		{"expired: session expired and never paid", StatusFacts{Expired: true}, StatusExpired},
		{"awaiting_payment: completed unpaid", StatusFacts{AwaitingPayment: true}, StatusAwaitingPayment},
		{"pending: nothing", StatusFacts{}, StatusPending},

		// Precedence.
		{"dispute open beats refunded", StatusFacts{DisputeOpen: true, Paid: true, AmountPaid: 1000, AmountRefunded: 1000}, StatusDisputed},
		{"dispute open beats lost", StatusFacts{DisputeOpen: true, DisputeLost: true, Paid: true, AmountPaid: 1000}, StatusDisputed},
		{"lost beats refunded", StatusFacts{DisputeLost: true, Paid: true, AmountPaid: 1000, AmountRefunded: 1000}, StatusDisputeLost},
		{"lost beats partially refunded", StatusFacts{DisputeLost: true, Paid: true, AmountPaid: 1000, AmountRefunded: 100}, StatusDisputeLost},
		{"paid 1000 refunded 1000 is refunded", StatusFacts{Paid: true, AmountPaid: 1000, AmountRefunded: 1000}, StatusRefunded},
		{"refunded more than paid is refunded", StatusFacts{Paid: true, AmountPaid: 1000, AmountRefunded: 1200}, StatusRefunded},
		{"refunded 500 of 1000 is partially refunded", StatusFacts{Paid: true, AmountPaid: 1000, AmountRefunded: 500}, StatusPartiallyRefunded},
		{"refunded 999 of 1000 is partially refunded", StatusFacts{Paid: true, AmountPaid: 1000, AmountRefunded: 999}, StatusPartiallyRefunded},
		{"refunded 1 of 1000 is partially refunded", StatusFacts{Paid: true, AmountPaid: 1000, AmountRefunded: 1}, StatusPartiallyRefunded},
		{"refund with nothing paid yet is not refunded", StatusFacts{AmountRefunded: 1000}, StatusPending},
		{"refund with nothing paid yet but awaiting", StatusFacts{AmountRefunded: 1000, AwaitingPayment: true}, StatusAwaitingPayment},
		{"paid for nothing (zero amount) stays paid", StatusFacts{Paid: true}, StatusPaid},
		{"expired but paid is paid", StatusFacts{Expired: true, Paid: true, AmountPaid: 1000}, StatusPaid},
		{"paid beats async failed", StatusFacts{Paid: true, AmountPaid: 1000, AsyncFailed: true}, StatusPaid},
		{"async failed beats expired", StatusFacts{AsyncFailed: true, Expired: true}, StatusPaymentFailed},
		{"expired beats awaiting", StatusFacts{Expired: true, AwaitingPayment: true}, StatusExpired},
		{"completed unpaid is awaiting payment", StatusFacts{AwaitingPayment: true}, StatusAwaitingPayment},
		{"won dispute (not open, not lost) falls through to paid", StatusFacts{Paid: true, AmountPaid: 1000}, StatusPaid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := DeriveStatus(tt.in); got != tt.want {
				t.Errorf("DeriveStatus(%+v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// Facts as the stripe package decodes them, for Summarize tests.
var (
	sessionPaid = Fact{ID: "cs_1", Kind: KindSession, OrderRef: "ord_1", PaymentIntent: "pi_1", Completed: true,
		SessionPaid: true, Amount: 1000, Currency: "eur", CustomerEmail: "buyer@example.com", Items: []Item{{"shirt-m", 1}}}
	sessionUnpaid = Fact{ID: "cs_1", Kind: KindSession, OrderRef: "ord_1", Completed: true, Amount: 1000, Currency: "eur",
		Items: []Item{{"shirt-m", 1}}}
	sessionAsyncOK = Fact{ID: "cs_1", Kind: KindSession, OrderRef: "ord_1", Completed: true, AsyncSucceeded: true, Amount: 1000, Currency: "eur"}
	sessionAsyncKO = Fact{ID: "cs_1", Kind: KindSession, OrderRef: "ord_1", Completed: true, AsyncFailed: true, Amount: 1000, Currency: "eur"}
	sessionExpired = Fact{ID: "cs_1", Kind: KindSession, OrderRef: "ord_1", Expired: true, Amount: 1000, Currency: "eur"}
	piSucceeded    = Fact{ID: "pi_1", Kind: KindPaymentIntent, Succeeded: true, Amount: 1000, AmountReceived: 1000, Currency: "eur"}
)

func TestSummarizeStatus(t *testing.T) {
	t.Parallel()
	charge := func(id string, refunded int64) Fact {
		return Fact{ID: id, Kind: KindCharge, PaymentIntent: "pi_1", Amount: 1000, AmountRefunded: refunded}
	}
	dispute := func(id, status string) Fact {
		return Fact{ID: id, Kind: KindDispute, Charge: "ch_1", Amount: 1000, DisputeStatus: status}
	}
	tests := []struct {
		name  string
		facts []Fact
		want  OrderStatus
	}{
		{"nothing", nil, StatusPending},
		{"session paid", []Fact{sessionPaid}, StatusPaid},
		{"payment intent succeeded alone", []Fact{piSucceeded}, StatusPaid},
		{"completed unpaid", []Fact{sessionUnpaid}, StatusAwaitingPayment},
		{"async succeeded", []Fact{sessionAsyncOK}, StatusPaid},
		{"async failed", []Fact{sessionAsyncKO}, StatusPaymentFailed},
		{"expired", []Fact{sessionExpired}, StatusExpired},
		{"expired but the intent succeeded", []Fact{sessionExpired, piSucceeded}, StatusPaid},
		{"full refund", []Fact{sessionPaid, charge("ch_1", 1000)}, StatusRefunded},
		{"partial refund", []Fact{sessionPaid, charge("ch_1", 500)}, StatusPartiallyRefunded},
		{"refunds over two charges add up to the whole", []Fact{sessionPaid, charge("ch_1", 600), charge("ch_2", 400)}, StatusRefunded},
		{"refund before payment is known", []Fact{charge("ch_1", 1000)}, StatusPending},
		{"open dispute", []Fact{sessionPaid, dispute("dp_1", "needs_response")}, StatusDisputed},
		{"open dispute beats refund", []Fact{sessionPaid, charge("ch_1", 1000), dispute("dp_1", "under_review")}, StatusDisputed},
		{"lost dispute", []Fact{sessionPaid, dispute("dp_1", "lost")}, StatusDisputeLost},
		{"lost dispute beats refund", []Fact{sessionPaid, charge("ch_1", 1000), dispute("dp_1", "lost")}, StatusDisputeLost},
		{"won dispute", []Fact{sessionPaid, dispute("dp_1", "won")}, StatusPaid},
		{"warning closed", []Fact{sessionPaid, dispute("dp_1", "warning_closed")}, StatusPaid},
		{"one open one lost", []Fact{sessionPaid, dispute("dp_1", "lost"), dispute("dp_2", "needs_response")}, StatusDisputed},
		{"payment attempt failed does not end the order", []Fact{sessionUnpaid,
			{ID: "pi_1", Kind: KindPaymentIntent, PaymentError: "declined", PaymentErrorAt: 5, FailedAttempts: []string{"evt_1"}}}, StatusAwaitingPayment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Summarize(tt.facts, nil).Status; got != tt.want {
				t.Errorf("Summarize(...).Status = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSummarizeFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		facts []Fact
		check func(t *testing.T, s Summary)
	}{
		{
			name: "amount paid is the session's amount_total when larger",
			facts: []Fact{
				{ID: "cs_1", Kind: KindSession, PaymentIntent: "pi_1", Completed: true, SessionPaid: true, Amount: 1200},
				{ID: "pi_1", Kind: KindPaymentIntent, Succeeded: true, Amount: 1000, AmountReceived: 1000},
			},
			check: func(t *testing.T, s Summary) {
				if s.AmountPaid != 1200 || s.AmountTotal != 1200 {
					t.Errorf("AmountPaid, AmountTotal = %d, %d, want 1200, 1200", s.AmountPaid, s.AmountTotal)
				}
			},
		},
		{
			name: "amount paid is the intent's amount_received when larger",
			facts: []Fact{
				{ID: "cs_1", Kind: KindSession, PaymentIntent: "pi_1", Completed: true, SessionPaid: true, Amount: 1000},
				{ID: "pi_1", Kind: KindPaymentIntent, Succeeded: true, Amount: 1500, AmountReceived: 1500},
			},
			check: func(t *testing.T, s Summary) {
				if s.AmountPaid != 1500 {
					t.Errorf("AmountPaid = %d, want 1500", s.AmountPaid)
				}
			},
		},
		{
			name: "an unpaid session's total is not paid",
			facts: []Fact{
				{ID: "cs_1", Kind: KindSession, Completed: true, Amount: 1000},
				{ID: "pi_1", Kind: KindPaymentIntent, Amount: 1000, PaymentError: "declined", PaymentErrorAt: 10},
			},
			check: func(t *testing.T, s Summary) {
				if s.AmountPaid != 0 || s.AmountTotal != 1000 {
					t.Errorf("AmountPaid, AmountTotal = %d, %d, want 0, 1000", s.AmountPaid, s.AmountTotal)
				}
				if s.PaymentError != "declined" {
					t.Errorf("PaymentError = %q, want declined", s.PaymentError)
				}
			},
		},
		{
			name: "the largest paid session's total is paid",
			facts: []Fact{
				{ID: "cs_1", Kind: KindSession, Completed: true, SessionPaid: true, Amount: 1200},
				{ID: "cs_2", Kind: KindSession, Completed: true, SessionPaid: true, Amount: 800},
				{ID: "cs_3", Kind: KindSession, Expired: true, Amount: 5000},
			},
			check: func(t *testing.T, s Summary) {
				if s.AmountPaid != 1200 || s.AmountTotal != 5000 {
					t.Errorf("AmountPaid, AmountTotal = %d, %d, want 1200, 5000", s.AmountPaid, s.AmountTotal)
				}
				// The first session (cs_1) sets the amount due: cs_2 paid less.
				if want := []Mismatch{{ID: "cs_2", Amount: 800}}; s.AmountDue != 1200 || !reflect.DeepEqual(s.Mismatches, want) {
					t.Errorf("AmountDue, Mismatches = %d, %+v, want 1200, %+v", s.AmountDue, s.Mismatches, want)
				}
			},
		},
		{
			name: "async succeeded session counts as paid",
			facts: []Fact{
				{ID: "cs_1", Kind: KindSession, Completed: true, AsyncSucceeded: true, Amount: 800},
			},
			check: func(t *testing.T, s Summary) {
				if s.AmountPaid != 800 || s.Status != StatusPaid {
					t.Errorf("AmountPaid, Status = %d, %s, want 800, paid", s.AmountPaid, s.Status)
				}
			},
		},
		{
			name: "a not succeeded intent's amount_received is not paid",
			facts: []Fact{
				{ID: "pi_1", Kind: KindPaymentIntent, AmountReceived: 1000, Amount: 1000},
			},
			check: func(t *testing.T, s Summary) {
				if s.AmountPaid != 0 || s.AmountTotal != 1000 {
					t.Errorf("AmountPaid, AmountTotal = %d, %d, want 0, 1000", s.AmountPaid, s.AmountTotal)
				}
			},
		},
		{
			name: "refunds are summed across charges",
			facts: []Fact{
				sessionPaid,
				{ID: "ch_1", Kind: KindCharge, PaymentIntent: "pi_1", AmountRefunded: 300},
				{ID: "ch_2", Kind: KindCharge, PaymentIntent: "pi_1", AmountRefunded: 200},
				{ID: "ch_3", Kind: KindCharge, PaymentIntent: "pi_1", AmountRefunded: 0},
			},
			check: func(t *testing.T, s Summary) {
				if s.AmountRefunded != 500 || s.Status != StatusPartiallyRefunded {
					t.Errorf("AmountRefunded, Status = %d, %s, want 500, partially_refunded", s.AmountRefunded, s.Status)
				}
			},
		},
		{
			name: "the open dispute is shown before a lost one",
			facts: []Fact{
				sessionPaid,
				{ID: "dp_0", Kind: KindDispute, DisputeStatus: "lost", Amount: 400},
				{ID: "dp_1", Kind: KindDispute, DisputeStatus: "won", Amount: 300},
				{ID: "dp_2", Kind: KindDispute, DisputeStatus: "under_review", Amount: 1000},
			},
			check: func(t *testing.T, s Summary) {
				want := &Dispute{ID: "dp_2", Status: "under_review", Amount: 1000}
				if !reflect.DeepEqual(s.Dispute, want) {
					t.Errorf("Dispute = %+v, want %+v", s.Dispute, want)
				}
			},
		},
		{
			name: "a lost dispute is shown before a won one",
			facts: []Fact{
				sessionPaid,
				{ID: "dp_0", Kind: KindDispute, DisputeStatus: "won", Amount: 300},
				{ID: "dp_1", Kind: KindDispute, DisputeStatus: "lost", Amount: 400},
			},
			check: func(t *testing.T, s Summary) {
				if s.Dispute == nil || s.Dispute.ID != "dp_1" || s.Status != StatusDisputeLost {
					t.Errorf("Dispute, Status = %+v, %s, want dp_1, dispute_lost", s.Dispute, s.Status)
				}
			},
		},
		{
			name:  "no dispute shows none",
			facts: []Fact{sessionPaid},
			check: func(t *testing.T, s Summary) {
				if s.Dispute != nil {
					t.Errorf("Dispute = %+v, want nil", s.Dispute)
				}
			},
		},
		{
			name: "items, email, currency, session and intent are picked from the facts",
			facts: []Fact{
				{ID: "pi_1", Kind: KindPaymentIntent, Succeeded: true, AmountReceived: 1000},
				{ID: "cs_1", Kind: KindSession, PaymentIntent: "pi_1", Completed: true, SessionPaid: true, Amount: 1000,
					Currency: "eur", CustomerEmail: "buyer@example.com", Items: []Item{{"print-a3", 2}}},
				{ID: "ch_1", Kind: KindCharge, PaymentIntent: "pi_1"},
			},
			check: func(t *testing.T, s Summary) {
				want := Summary{Status: StatusPaid, Items: []Item{{"print-a3", 2}}, Currency: "eur", AmountTotal: 1000,
					AmountDue: 1000, AmountPaid: 1000, CustomerEmail: "buyer@example.com", CheckoutSession: "cs_1", PaymentIntent: "pi_1"}
				if !reflect.DeepEqual(s, want) {
					t.Errorf("Summary =\n%+v\nwant\n%+v", s, want)
				}
			},
		},
		{
			name: "the session's payment intent is shown before the intent's own fact arrives",
			facts: []Fact{
				{ID: "cs_1", Kind: KindSession, PaymentIntent: "pi_1", Completed: true, SessionPaid: true, Amount: 1000},
			},
			check: func(t *testing.T, s Summary) {
				if s.PaymentIntent != "pi_1" || s.CheckoutSession != "cs_1" {
					t.Errorf("PaymentIntent, CheckoutSession = %q, %q", s.PaymentIntent, s.CheckoutSession)
				}
			},
		},
		{
			name: "items errors are reported",
			facts: []Fact{
				{ID: "cs_1", Kind: KindSession, Completed: true, SessionPaid: true, Amount: 1000, UnknownItems: "metadata items: bad"},
			},
			check: func(t *testing.T, s Summary) {
				if s.ItemsError != "metadata items: bad" || len(s.Items) != 0 {
					t.Errorf("ItemsError, Items = %q, %v", s.ItemsError, s.Items)
				}
			},
		},
		{
			name: "the latest payment error is shown",
			facts: []Fact{
				{ID: "pi_1", Kind: KindPaymentIntent, PaymentError: "later", PaymentErrorAt: 20},
				{ID: "pi_2", Kind: KindPaymentIntent, PaymentError: "earlier", PaymentErrorAt: 10},
			},
			check: func(t *testing.T, s Summary) {
				if s.PaymentError != "later" || s.PaymentIntent != "pi_1" {
					t.Errorf("PaymentError, PaymentIntent = %q, %q, want later, pi_1", s.PaymentError, s.PaymentIntent)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, Summarize(tt.facts, nil))
		})
	}
}

func TestSummarizeIgnoresFactOrder(t *testing.T) {
	t.Parallel()
	sets := map[string][]Fact{
		"paid, refunded twice, disputed": {
			sessionPaid, piSucceeded,
			{ID: "ch_1", Kind: KindCharge, PaymentIntent: "pi_1", Amount: 1000, AmountRefunded: 300},
			{ID: "ch_2", Kind: KindCharge, PaymentIntent: "pi_1", Amount: 1000, AmountRefunded: 200},
			{ID: "dp_1", Kind: KindDispute, Charge: "ch_1", DisputeStatus: "lost", Amount: 1000},
			{ID: "dp_2", Kind: KindDispute, Charge: "ch_2", DisputeStatus: "won", Amount: 900},
		},
		"two sessions and two intents with different amounts": {
			{ID: "cs_2", Kind: KindSession, Completed: true, Amount: 700, Currency: "eur", Items: []Item{{"a", 1}}},
			{ID: "cs_1", Kind: KindSession, Expired: true, Amount: 500, Currency: "eur", Items: []Item{{"b", 1}}},
			{ID: "pi_2", Kind: KindPaymentIntent, Amount: 1500, PaymentError: "x", PaymentErrorAt: 3},
			{ID: "pi_1", Kind: KindPaymentIntent, Amount: 900, PaymentError: "y", PaymentErrorAt: 3},
		},
		"intents only, with different amounts": {
			{ID: "pi_2", Kind: KindPaymentIntent, Amount: 1500, Succeeded: true, AmountReceived: 1500, CustomerEmail: "b@example.com"},
			{ID: "pi_1", Kind: KindPaymentIntent, Amount: 900, CustomerEmail: "a@example.com"},
			{ID: "ch_1", Kind: KindCharge, PaymentIntent: "pi_2", AmountRefunded: 1500},
		},
		"two paid sessions": {
			{ID: "cs_1", Kind: KindSession, Completed: true, SessionPaid: true, Amount: 1200},
			{ID: "cs_2", Kind: KindSession, Completed: true, AsyncSucceeded: true, Amount: 800},
			{ID: "cs_3", Kind: KindSession, Completed: true, SessionPaid: true, Amount: 1000},
		},
		"two addresses, a session's and its payment's": {
			{ID: "cs_1", Kind: KindSession, Completed: true, SessionPaid: true, Amount: 1000, Currency: "eur", PaymentIntent: "pi_1",
				Shipping: &Shipping{Name: "Camille", Address: Address{City: "Lyon", Country: "FR"}}, AmountShipping: 500, AmountTax: 80},
			{ID: "pi_1", Kind: KindPaymentIntent, Amount: 1000, Currency: "eur", Succeeded: true, AmountReceived: 1000,
				Shipping: &Shipping{Name: "Someone", Address: Address{City: "Paris", Country: "FR"}}},
			{ID: "ch_1", Kind: KindCharge, PaymentIntent: "pi_1", Amount: 1000, Shipping: &Shipping{Name: "Zed"}},
		},
		"an intent larger than the session": {
			{ID: "cs_1", Kind: KindSession, Completed: true, Amount: 0},
			{ID: "pi_1", Kind: KindPaymentIntent, Amount: 1500},
			{ID: "pi_0", Kind: KindPaymentIntent, Amount: 1000},
		},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for name, facts := range sets {
		want := Summarize(facts, nil)
		for range 200 {
			shuffled := slices.Clone(facts)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if got := Summarize(shuffled, nil); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: Summarize depends on fact order:\n%+v\nfor %v\nwant\n%+v", name, got, shuffled, want)
			}
		}
	}
}

// The order goes where its session says, whole (never a field of one
// address with another's); without a session, where its payment says; a
// stranger's session (one that does not pay the order) says nothing.
func TestSummarizeShipping(t *testing.T) {
	t.Parallel()
	lyon := &Shipping{Name: "Camille", Phone: "+33 6", Address: Address{Line1: "12 rue des Lilas", City: "Lyon", Country: "FR"}}
	paris := &Shipping{Name: "Someone", Address: Address{City: "Paris", Country: "FR"}}
	session := Fact{ID: "cs_1", Kind: KindSession, Completed: true, SessionPaid: true, Amount: 1000, Currency: "eur", PaymentIntent: "pi_1",
		Shipping: lyon, AmountShipping: 500, AmountTax: 80, AmountDiscount: 20}
	intent := Fact{ID: "pi_1", Kind: KindPaymentIntent, Amount: 1000, Currency: "eur", Succeeded: true, AmountReceived: 1000, Shipping: paris}
	if s := Summarize([]Fact{intent, session}, nil); !reflect.DeepEqual(s.Shipping, lyon) || s.AmountShipping != 500 || s.AmountTax != 80 || s.AmountDiscount != 20 {
		t.Errorf("with its session: %+v (%d, %d, %d), want the session's %+v", s.Shipping, s.AmountShipping, s.AmountTax, s.AmountDiscount, lyon)
	}
	if s := Summarize([]Fact{intent}, nil); !reflect.DeepEqual(s.Shipping, paris) {
		t.Errorf("the payment alone: %+v, want its %+v", s.Shipping, paris)
	}
	stranger := Fact{ID: "cs_9", Kind: KindSession, Completed: true, SessionPaid: true, Amount: 1, Currency: "eur", PaymentIntent: "pi_9",
		Shipping: &Shipping{Name: "Mallory", Address: Address{City: "Nowhere"}}, AmountShipping: 999999}
	if s := Summarize([]Fact{intent, session, stranger}, &Terms{AmountDue: 1000, Currency: "eur"}); !reflect.DeepEqual(s.Shipping, lyon) || s.AmountShipping != 500 {
		t.Errorf("with a stranger's session: %+v, %d; want %+v, 500", s.Shipping, s.AmountShipping, lyon)
	}
	a, b := Fact{ID: "cs_1", Shipping: lyon}, Fact{ID: "cs_1", Shipping: paris}
	a.Merge(Fact{ID: "cs_1", Shipping: paris})
	b.Merge(Fact{ID: "cs_1", Shipping: lyon})
	if !reflect.DeepEqual(a.Shipping, b.Shipping) || (a.Shipping != lyon && a.Shipping != paris) {
		t.Errorf("two addresses merge to %+v and %+v, want one of them whole, whatever the order", a.Shipping, b.Shipping)
	}
}

func TestHolding(t *testing.T) {
	t.Parallel()
	type row struct {
		status          OrderStatus
		checkoutOpen    bool
		restockOnRefund bool
		want            HoldKind
	}
	var tests []row
	// Statuses whose holding depends on neither flag.
	fixed := map[OrderStatus]HoldKind{
		StatusPaid:              HoldSold,
		StatusPartiallyRefunded: HoldSold,
		StatusDisputed:          HoldSold,
		StatusDisputeLost:       HoldSold,
		StatusAwaitingPayment:   HoldReserved,
		StatusExpired:           HoldNone,
		StatusPaymentFailed:     HoldNone,
	}
	for status, want := range fixed {
		for _, open := range []bool{false, true} {
			for _, restock := range []bool{false, true} {
				tests = append(tests, row{status, open, restock, want})
			}
		}
	}
	tests = append(tests,
		row{StatusRefunded, false, true, HoldNone},
		row{StatusRefunded, true, true, HoldNone},
		row{StatusRefunded, false, false, HoldSold},
		row{StatusRefunded, true, false, HoldSold},
		row{StatusPending, false, true, HoldNone},
		row{StatusPending, false, false, HoldNone},
		row{StatusPending, true, true, HoldReserved},
		row{StatusPending, true, false, HoldReserved},
	)
	covered := map[OrderStatus]bool{}
	for _, tt := range tests {
		covered[tt.status] = true
		if got := Holding(tt.status, tt.checkoutOpen, tt.restockOnRefund); got != tt.want {
			t.Errorf("Holding(%s, checkoutOpen=%t, restock=%t) = %q, want %q", tt.status, tt.checkoutOpen, tt.restockOnRefund, got, tt.want)
		}
	}
	for _, s := range OrderStatuses {
		if !covered[s] {
			t.Errorf("status %s not covered", s)
		}
	}
}

func TestWantedHolds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		items []Item
		kind  HoldKind
		want  []Hold
	}{
		{"none holds nothing", []Item{{"a", 1}}, HoldNone, nil},
		{"reserved", []Item{{"a", 2}}, HoldReserved, []Hold{{ProductID: "a", Reserved: 2}}},
		{"sold", []Item{{"a", 2}}, HoldSold, []Hold{{ProductID: "a", Sold: 2}}},
		{"same product added together, sorted", []Item{{"b", 1}, {"a", 1}, {"b", 2}}, HoldSold,
			[]Hold{{ProductID: "a", Sold: 1}, {ProductID: "b", Sold: 3}}},
		{"zero and negative quantities are skipped", []Item{{"a", 0}, {"b", -1}, {"c", 1}}, HoldReserved,
			[]Hold{{ProductID: "c", Reserved: 1}}},
		{"no items", nil, HoldSold, []Hold{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := WantedHolds(tt.items, tt.kind)
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("WantedHolds(%v, %q) = %+v, want %+v", tt.items, tt.kind, got, tt.want)
			}
		})
	}
}

func TestStockMoves(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		from, to  []Hold
		want      []StockMove
		wantNeed  []int64
		wantTakes []bool
	}{
		{
			name:      "reservation converts to a sale",
			from:      []Hold{{ProductID: "a", Reserved: 1}},
			to:        []Hold{{ProductID: "a", Sold: 1}},
			want:      []StockMove{{ProductID: "a", Reserved: -1, Sold: 1}},
			wantNeed:  []int64{0},
			wantTakes: []bool{true},
		},
		{
			name:      "new sale",
			to:        []Hold{{ProductID: "a", Sold: 1}},
			want:      []StockMove{{ProductID: "a", Sold: 1}},
			wantNeed:  []int64{1},
			wantTakes: []bool{true},
		},
		{
			name:      "new reservation",
			to:        []Hold{{ProductID: "a", Reserved: 2}},
			want:      []StockMove{{ProductID: "a", Reserved: 2}},
			wantNeed:  []int64{2},
			wantTakes: []bool{true},
		},
		{
			name:      "release of a reservation",
			from:      []Hold{{ProductID: "a", Reserved: 1}},
			want:      []StockMove{{ProductID: "a", Reserved: -1}},
			wantNeed:  []int64{-1},
			wantTakes: []bool{false},
		},
		{
			name:      "restock of a sale",
			from:      []Hold{{ProductID: "a", Sold: 2}},
			want:      []StockMove{{ProductID: "a", Sold: -2}},
			wantNeed:  []int64{-2},
			wantTakes: []bool{false},
		},
		{
			name:      "sale larger than the reservation needs the difference",
			from:      []Hold{{ProductID: "a", Reserved: 1}},
			to:        []Hold{{ProductID: "a", Sold: 3}},
			want:      []StockMove{{ProductID: "a", Reserved: -1, Sold: 3}},
			wantNeed:  []int64{2},
			wantTakes: []bool{true},
		},
		{
			name:     "no change, no moves",
			from:     []Hold{{ProductID: "a", Sold: 1}},
			to:       []Hold{{ProductID: "a", Sold: 1}},
			want:     nil,
			wantNeed: nil,
		},
		{
			name:      "multiple products sorted by id",
			from:      []Hold{{ProductID: "c", Reserved: 1}, {ProductID: "a", Reserved: 1}},
			to:        []Hold{{ProductID: "b", Sold: 1}, {ProductID: "a", Sold: 1}, {ProductID: "c", Reserved: 1}},
			want:      []StockMove{{ProductID: "a", Reserved: -1, Sold: 1}, {ProductID: "b", Sold: 1}},
			wantNeed:  []int64{0, 1},
			wantTakes: []bool{true, true},
		},
		{
			name:      "many products out of order",
			to:        []Hold{{ProductID: "z", Sold: 1}, {ProductID: "m", Sold: 1}, {ProductID: "b", Sold: 1}},
			want:      []StockMove{{ProductID: "b", Sold: 1}, {ProductID: "m", Sold: 1}, {ProductID: "z", Sold: 1}},
			wantNeed:  []int64{1, 1, 1},
			wantTakes: []bool{true, true, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := StockMoves(tt.from, tt.to)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("StockMoves = %+v, want %+v", got, tt.want)
			}
			for i, m := range got {
				if m.Need() != tt.wantNeed[i] {
					t.Errorf("move %d Need() = %d, want %d", i, m.Need(), tt.wantNeed[i])
				}
				if m.Takes() != tt.wantTakes[i] {
					t.Errorf("move %d Takes() = %t, want %t", i, m.Takes(), tt.wantTakes[i])
				}
			}
		})
	}
}

func TestParseItems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		md      map[string]string
		want    []Item
		wantErr bool
	}{
		{"items list", map[string]string{"items": "a:1,b:2"}, []Item{{"a", 1}, {"b", 2}}, false},
		{"items list with spaces", map[string]string{"items": " a : 1 , b:2 , "}, []Item{{"a", 1}, {"b", 2}}, false},
		{"item with no quantity defaults to 1", map[string]string{"items": "a,b:3"}, []Item{{"a", 1}, {"b", 3}}, false},
		{"items win over product_id", map[string]string{"items": "a:2", "product_id": "b"}, []Item{{"a", 2}}, false},
		{"product_id with quantity", map[string]string{"product_id": "print-1", "quantity": "3"}, []Item{{"print-1", 3}}, false},
		{"product_id default quantity 1", map[string]string{"product_id": "print-1"}, []Item{{"print-1", 1}}, false},
		{"product_id empty quantity defaults", map[string]string{"product_id": " print-1 ", "quantity": " "}, []Item{{"print-1", 1}}, false},
		{"largest quantity", map[string]string{"items": "a:10000"}, []Item{{"a", 10000}}, false},
		{"empty metadata", map[string]string{}, nil, false},
		{"nil metadata", nil, nil, false},
		{"unrelated metadata", map[string]string{"order_id": "ord_1"}, nil, false},
		{"blank items and no product", map[string]string{"items": "  "}, nil, false},
		{"zero quantity", map[string]string{"items": "a:0"}, nil, true},
		{"negative quantity", map[string]string{"items": "a:-1"}, nil, true},
		{"not a number", map[string]string{"items": "a:x"}, nil, true},
		{"empty quantity", map[string]string{"items": "a:"}, nil, true},
		{"fraction", map[string]string{"items": "a:1.5"}, nil, true},
		{"huge quantity", map[string]string{"items": "a:10001"}, nil, true},
		{"a product named twice is one item", map[string]string{"items": "a:2,b:1,a:3"}, []Item{{"a", 5}, {"b", 1}}, false},
		{"a product named twice adding up to too many", map[string]string{"items": "a:6000,a:6000"}, nil, true},
		{"a NUL in a product id", map[string]string{"items": "a\x00b:1"}, nil, true},
		{"a space in a product id", map[string]string{"items": "a b:1"}, nil, true},
		{"a NUL in product_id", map[string]string{"product_id": "a\x00"}, nil, true},
		{"100 products", map[string]string{"items": manyItems(100, 1)}, nil, false},
		{"101 products", map[string]string{"items": manyItems(101, 1)}, nil, true},
		{"40,000 entries of 100 products merge", map[string]string{"items": manyItems(100, 400)}, nil, false},
		{"40,000 entries of as many products", map[string]string{"items": manyItems(40000, 1)}, nil, true},
		{"overflowing quantity", map[string]string{"items": "a:99999999999999999999"}, nil, true},
		{"one bad among good", map[string]string{"items": "a:1,b:0"}, nil, true},
		{"no product name", map[string]string{"items": ":2"}, nil, true},
		{"only commas", map[string]string{"items": ",,"}, nil, true},
		{"product_id zero quantity", map[string]string{"product_id": "a", "quantity": "0"}, nil, true},
		{"product_id negative quantity", map[string]string{"product_id": "a", "quantity": "-1"}, nil, true},
		{"product_id bad quantity", map[string]string{"product_id": "a", "quantity": "x"}, nil, true},
		{"product_id huge quantity", map[string]string{"product_id": "a", "quantity": "100000"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseItems(tt.md)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseItems(%v) = %v, want an error", tt.md, got)
				}
				if got != nil {
					t.Errorf("ParseItems(%v) returned items %v with its error", tt.md, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseItems(%v): %v", tt.md, err)
			}
			if tt.want == nil && len(got) > 0 {
				// Generated lists: each product once, the entries merged.
				var units int64
				for _, it := range got {
					units += it.Quantity
				}
				if n := strings.Count(tt.md["items"], ",") + 1; int(units) != n || len(got) > MaxOrderProducts {
					t.Errorf("ParseItems: %d items, %d units, want at most %d items holding %d units", len(got), units, MaxOrderProducts, n)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseItems(%v) = %#v, want %#v", tt.md, got, tt.want)
			}
		})
	}
}

// manyItems names products p0…p(n-1), each repeat times.
func manyItems(n, repeat int) string {
	parts := make([]string, 0, n*repeat)
	for range repeat {
		for i := range n {
			parts = append(parts, "p"+strconv.Itoa(i)+":1")
		}
	}
	return strings.Join(parts, ",")
}

func TestFormatItemsRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		items []Item
		want  string
	}{
		{nil, ""},
		{[]Item{{"a", 1}}, "a:1"},
		{[]Item{{"a", 1}, {"b", 2}}, "a:1,b:2"},
		{[]Item{{"shirt-m", 3}, {"print-a3", 10000}}, "shirt-m:3,print-a3:10000"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			s := FormatItems(tt.items)
			if s != tt.want {
				t.Fatalf("FormatItems(%v) = %q, want %q", tt.items, s, tt.want)
			}
			back, err := ParseItems(map[string]string{"items": s})
			if err != nil {
				t.Fatalf("ParseItems(FormatItems) error: %v", err)
			}
			if !reflect.DeepEqual(back, tt.items) {
				t.Errorf("round trip: %v became %v", tt.items, back)
			}
		})
	}
	if s := FormatItems([]Item{{"a", 1}}); strings.Contains(s, " ") {
		t.Errorf("FormatItems has spaces: %q", s)
	}
}

func TestLinkOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		facts []Fact
		want  string
	}{
		{"nothing", nil, ""},
		{"an unlinked intent and charge", []Fact{
			{ID: "pi_1", Kind: KindPaymentIntent}, {ID: "ch_1", Kind: KindCharge, PaymentIntent: "pi_1"}}, ""},
		{"session id fallback", []Fact{
			{ID: "pi_1", Kind: KindPaymentIntent}, {ID: "cs_1", Kind: KindSession, PaymentIntent: "pi_1"}}, "cs_1"},
		{"smallest session id", []Fact{
			{ID: "cs_b", Kind: KindSession}, {ID: "cs_a", Kind: KindSession}}, "cs_a"},
		{"explicit order ref beats session id", []Fact{
			{ID: "cs_1", Kind: KindSession}, {ID: "pi_1", Kind: KindPaymentIntent, OrderRef: "ord_9"}}, "ord_9"},
		{"the session's own ref beats its id", []Fact{
			{ID: "cs_1", Kind: KindSession, OrderRef: "ord_1"}}, "ord_1"},
		{"smallest ref wins", []Fact{
			{ID: "cs_1", Kind: KindSession, OrderRef: "ord_b"}, {ID: "pi_1", Kind: KindPaymentIntent, OrderRef: "ord_a"}}, "ord_a"},
		{"smallest ref wins in any order", []Fact{
			{ID: "pi_1", Kind: KindPaymentIntent, OrderRef: "ord_a"}, {ID: "cs_1", Kind: KindSession, OrderRef: "ord_b"}}, "ord_a"},
		{"a non-session id is never an order id", []Fact{
			{ID: "ch_1", Kind: KindCharge}, {ID: "dp_1", Kind: KindDispute, Charge: "ch_1"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := LinkOrder(tt.facts); got != tt.want {
				t.Errorf("LinkOrder = %q, want %q", got, tt.want)
			}
			rev := slices.Clone(tt.facts)
			slices.Reverse(rev)
			if got := LinkOrder(rev); got != tt.want {
				t.Errorf("LinkOrder(reversed) = %q, want %q", got, tt.want)
			}
		})
	}
}

// Only money that covers the order pays it.
func TestSummarizeTerms(t *testing.T) {
	t.Parallel()
	art := []Item{{"art", 1}}
	realPay := Fact{ID: "cs_A", Kind: KindSession, OrderRef: "ord_X", PaymentIntent: "pi_A", Completed: true, SessionPaid: true,
		Amount: 500000, Currency: "eur", Items: art, Created: 100}
	cheap := Fact{ID: "cs_B", Kind: KindSession, OrderRef: "ord_X", PaymentIntent: "pi_B", Completed: true, SessionPaid: true,
		Amount: 100, Currency: "eur", Items: []Item{{"sticker", 1}}, Created: 200}
	cheapIntent := Fact{ID: "pi_B", Kind: KindPaymentIntent, Succeeded: true, Amount: 100, AmountReceived: 100, Currency: "eur"}
	checkout := &Terms{AmountDue: 500000, Currency: "eur"}
	tests := []struct {
		name       string
		facts      []Fact
		fixed      *Terms
		status     OrderStatus
		paid       int64
		refunded   int64
		mismatches []string
	}{
		{"a cheap session does not pay caisse's checkout", []Fact{cheap}, checkout, StatusPending, 0, 0, []string{"cs_B"}},
		{"nor its payment intent", []Fact{cheap, cheapIntent}, checkout, StatusPending, 0, 0, []string{"cs_B"}},
		{"a short payment intent alone is a mismatch", []Fact{cheapIntent}, checkout, StatusPending, 0, 0, []string{"pi_B"}},
		{"the real payment pays, the cheap one stays a mismatch", []Fact{realPay, cheap, cheapIntent}, checkout, StatusPaid, 500000, 0, []string{"cs_B"}},
		{"the earliest session sets the terms of an order caisse did not open", []Fact{cheap, {ID: "cs_A", Kind: KindSession, OrderRef: "ord_X",
			Completed: true, Amount: 500000, Currency: "eur", Items: art, Created: 100}}, nil, StatusAwaitingPayment, 0, 0, []string{"cs_B"}},
		{"a session in another currency is a mismatch", []Fact{{ID: "cs_C", Kind: KindSession, PaymentIntent: "pi_C", Completed: true,
			SessionPaid: true, Amount: 900000, Currency: "usd"}}, checkout, StatusPending, 0, 0, []string{"cs_C"}},
		{"a payment intent in another currency alone counts for nothing and flags nothing", []Fact{{ID: "pi_fx", Kind: KindPaymentIntent,
			Succeeded: true, Amount: 540000, AmountReceived: 540000, Currency: "usd"}}, checkout, StatusPending, 0, 0, nil},
		{"the session it belongs to vouches for it", []Fact{{ID: "pi_fx", Kind: KindPaymentIntent, Succeeded: true, Amount: 540000,
			AmountReceived: 540000, Currency: "usd"}, {ID: "cs_A", Kind: KindSession, PaymentIntent: "pi_fx", Completed: true, SessionPaid: true,
			Amount: 500000, Currency: "eur"}}, checkout, StatusPaid, 500000, 0, nil},
		{"a refund in the buyer's currency counts as its share", []Fact{{ID: "cs_A", Kind: KindSession, PaymentIntent: "pi_fx", Completed: true,
			SessionPaid: true, Amount: 500000, Currency: "eur"}, {ID: "ch_fx", Kind: KindCharge, PaymentIntent: "pi_fx", Amount: 540000,
			AmountRefunded: 270000, Currency: "usd"}}, checkout, StatusPartiallyRefunded, 500000, 250000, nil},
		{"refunding the cheap payment does not refund the order", []Fact{realPay, cheap, {ID: "ch_B", Kind: KindCharge, PaymentIntent: "pi_B",
			Amount: 100, AmountRefunded: 100, Currency: "eur"}}, checkout, StatusPaid, 500000, 0, []string{"cs_B"}},
		{"a dispute of the cheap payment is not the order's", []Fact{realPay, cheap, {ID: "dp_B", Kind: KindDispute, PaymentIntent: "pi_B",
			Amount: 100, DisputeStatus: "needs_response"}}, checkout, StatusPaid, 500000, 0, []string{"cs_B"}},
		{"an expired cheap session does not expire the order", []Fact{{ID: "cs_B", Kind: KindSession, Expired: true, Amount: 100,
			Currency: "eur"}}, checkout, StatusPending, 0, 0, nil},
		{"refunds that would overflow saturate", []Fact{realPay,
			{ID: "ch_1", Kind: KindCharge, PaymentIntent: "pi_A", Amount: math.MaxInt64, AmountRefunded: math.MaxInt64, Currency: "eur"},
			{ID: "ch_2", Kind: KindCharge, PaymentIntent: "pi_A", Amount: math.MaxInt64, AmountRefunded: math.MaxInt64, Currency: "eur"}},
			checkout, StatusRefunded, 500000, math.MaxInt64, nil},
		{"a test-mode payment never counts for a live order", []Fact{{ID: "cs_live", Kind: KindSession, Completed: true, Amount: 1000,
			Currency: "eur", Livemode: true}, {ID: "cs_test", Kind: KindSession, Completed: true, SessionPaid: true, Amount: 1000,
			Currency: "eur"}}, nil, StatusAwaitingPayment, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Summarize(tt.facts, tt.fixed)
			var mismatches []string
			for _, m := range s.Mismatches {
				mismatches = append(mismatches, m.ID)
			}
			if s.Status != tt.status || s.AmountPaid != tt.paid || s.AmountRefunded != tt.refunded || !slices.Equal(mismatches, tt.mismatches) {
				t.Errorf("Summarize = status %s, paid %d, refunded %d, mismatches %v; want %s, %d, %d, %v",
					s.Status, s.AmountPaid, s.AmountRefunded, mismatches, tt.status, tt.paid, tt.refunded, tt.mismatches)
			}
			for range 50 {
				shuffled := slices.Clone(tt.facts)
				rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if got := Summarize(shuffled, tt.fixed); !reflect.DeepEqual(got, s) {
					t.Fatalf("Summarize depends on the facts' order:\n%+v\nwant\n%+v", got, s)
				}
			}
		})
	}
}

func TestMismatchOf(t *testing.T) {
	t.Parallel()
	session := Fact{Kind: KindSession, ID: "cs_1", PaymentIntent: "pi_1", Amount: 500, Currency: "eur", CustomerEmail: "session@example.com"}
	intent := Fact{Kind: KindPaymentIntent, ID: "pi_1", Succeeded: true, Amount: 500, AmountReceived: 700, Currency: "eur", CustomerEmail: "intent@example.com"}
	other := Fact{Kind: KindPaymentIntent, ID: "pi_2", Succeeded: true, AmountReceived: 9000, Currency: "usd", CustomerEmail: "other@example.com"}
	failed := Fact{Kind: KindPaymentIntent, ID: "pi_1", Amount: 800, Currency: "eur"}
	tests := []struct {
		name   string
		facts  []Fact
		amount int64
		email  string
	}{
		{"nothing known", nil, 0, ""},
		{"the session's address first", []Fact{intent, session}, 700, "session@example.com"},
		{"the payment's address without a session", []Fact{intent}, 700, "intent@example.com"},
		{"another payment is not this one", []Fact{other}, 0, ""},
		{"a payment that did not succeed brought nothing", []Fact{failed}, 0, ""},
	}
	for _, tt := range tests {
		m, email := MismatchOf(tt.facts, "pi_1")
		if m.Amount != tt.amount || email != tt.email || m.PaymentIntent != "pi_1" {
			t.Errorf("%s: got %+v %q, want amount %d, email %q", tt.name, m, email, tt.amount, tt.email)
		}
	}
}
