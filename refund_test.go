package caisse

import (
	"strings"
	"testing"
	"time"
)

func paidRecord() *OrderRecord {
	return &OrderRecord{Order: Order{ID: "o1", Status: StatusPaid, Currency: "eur", AmountPaid: 7500, PaymentIntent: "pi_o1",
		Items: []Line{{ProductID: "print", Quantity: 3, UnitAmount: 2500}, {ProductID: "mystery", Quantity: 1}}}}
}

// What the owner may refund: only a paid order's money and lines, never
// more than is left, whatever was asked before and not yet confirmed.
func TestDecideRefund(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		edit   func(o *OrderRecord)
		req    RefundRequest
		amount int64  // of the refund decided
		code   string // of the refusal
		says   string
	}{
		{"an amount", nil, RefundRequest{Amount: 1000}, 1000, "", ""},
		{"lines at their price", nil, RefundRequest{Lines: []Item{{"print", 2}}, Restock: true}, 5000, "", ""},
		{"lines with an amount", nil, RefundRequest{Lines: []Item{{"print", 2}}, Amount: 4000}, 4000, "", ""},
		{"everything", nil, RefundRequest{Amount: 7500}, 7500, "", ""},
		{"more than paid", nil, RefundRequest{Amount: 7501}, 0, EINVALID, "only €75.00 is left"},
		{"more than left", func(o *OrderRecord) {
			o.AmountRefunded = 1000
			o.RefundsRequested = []OwnerRefund{{ID: "x", Status: RefundRequested, Amount: 2000}, {ID: "y", Status: RefundFailed, Amount: 3000}}
		}, RefundRequest{Amount: 4600}, 0, EINVALID, "only €45.00 is left"},
		{"a line not of the order", nil, RefundRequest{Lines: []Item{{"mug", 1}}}, 0, EINVALID, "not a line of order o1"},
		{"more units than bought", nil, RefundRequest{Lines: []Item{{"print", 4}}}, 0, EINVALID, "3 of print left"},
		{"units returned already", func(o *OrderRecord) {
			o.RefundsRequested = []OwnerRefund{{ID: "x", Status: RefundConfirmed, Amount: 2500, Lines: []Item{{"print", 2}}}}
		}, RefundRequest{Lines: []Item{{"print", 2}}}, 0, EINVALID, "1 of print left"},
		{"a line without a price", nil, RefundRequest{Lines: []Item{{"mystery", 1}}}, 0, EINVALID, "give the amount"},
		{"a line without a price, with an amount", nil, RefundRequest{Lines: []Item{{"mystery", 1}}, Amount: 100}, 100, "", ""},
		{"refunded in full", func(o *OrderRecord) { o.Status, o.AmountRefunded = StatusRefunded, 7500 }, RefundRequest{Amount: 1}, 0, ECONFLICT, "refunded in full"},
		{"disputed", func(o *OrderRecord) { o.Status = StatusDisputed }, RefundRequest{Amount: 1}, 0, ECONFLICT, "disputed"},
		{"unpaid", func(o *OrderRecord) { o.Status = StatusAwaitingPayment }, RefundRequest{Amount: 1}, 0, ECONFLICT, "only a paid order"},
		{"partly refunded", func(o *OrderRecord) { o.Status, o.AmountRefunded = StatusPartiallyRefunded, 500 }, RefundRequest{Amount: 7000}, 7000, "", ""},
		{"restock of an oversold order", func(o *OrderRecord) { o.Oversold = true }, RefundRequest{Lines: []Item{{"print", 1}}, Restock: true}, 0, EINVALID, "oversold"},
		{"no payment intent", func(o *OrderRecord) { o.PaymentIntent = "" }, RefundRequest{Amount: 1}, 0, ECONFLICT, "no payment intent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := paidRecord()
			if tc.edit != nil {
				tc.edit(o)
			}
			r := tc.req
			if err := r.Normalize(); err != nil {
				t.Fatal(err)
			}
			x, err := o.DecideRefund(r, now)
			if tc.code != "" {
				if ErrorCode(err) != tc.code || !strings.Contains(ErrorMessage(err), tc.says) {
					t.Fatalf("%v, want %s saying %q", err, tc.code, tc.says)
				}
				return
			}
			if err != nil || x.Amount != tc.amount || x.Status != RefundRequested || x.ID != RefundID("o1", r) || x.Repeated {
				t.Fatalf("%+v, %v; want a refund of %d", x, err, tc.amount)
			}
		})
	}
}

// A request is checked on its own first: Stripe's reasons only, whole
// units, something asked, restock only of lines.
func TestRefundRequestNormalize(t *testing.T) {
	t.Parallel()
	for _, r := range []RefundRequest{
		{}, {Amount: -1}, {Amount: MaxAmount + 1}, {Amount: 100, Reason: "oversold"}, {Amount: 100, Restock: true},
		{Lines: []Item{{"", 1}}}, {Lines: []Item{{"a", 0}}}, {Lines: []Item{{"a", MaxItemQuantity}, {"a", 1}}},
		{Amount: 1, Key: strings.Repeat("k", 101)}, {Amount: 1, Key: "a\nb"},
	} {
		if err := r.Normalize(); ErrorCode(err) != EINVALID {
			t.Errorf("%+v: %v, want invalid", r, err)
		}
	}
	r := RefundRequest{Lines: []Item{{"b", 1}, {"a", 1}, {"b", 2}}}
	if err := r.Normalize(); err != nil || FormatItems(r.Lines) != "a:1,b:3" {
		t.Errorf("%+v, %v; want the lines added and sorted", r.Lines, err)
	}
}

// The same request is the same refund, answered as it stands; one that
// differs only in restock or reason too; another key makes another.
func TestRefundIdentity(t *testing.T) {
	t.Parallel()
	o := paidRecord()
	now := time.Now()
	first, err := o.DecideRefund(RefundRequest{Amount: 1000}, now)
	if err != nil {
		t.Fatal(err)
	}
	first.OrderID = ""
	o.RefundsRequested = append(o.RefundsRequested, *first)
	o.RefundsRequested[0].Status = RefundConfirmed
	o.Status = StatusRefunded // whatever the order became since
	again, err := o.DecideRefund(RefundRequest{Amount: 1000, Reason: "duplicate"}, now)
	if err != nil || again.ID != first.ID || !again.Repeated || again.Status != RefundConfirmed {
		t.Errorf("the same request again: %+v, %v", again, err)
	}
	if RefundID("o1", RefundRequest{Amount: 1000, Key: "k"}) == first.ID || RefundID("o2", RefundRequest{Amount: 1000}) == first.ID {
		t.Errorf("another key or order gives the same id")
	}
	if len(first.ID) > 255 || len(RefundID(strings.Repeat("o", 200), RefundRequest{Amount: 1})) > 255 {
		t.Errorf("an id longer than Stripe's idempotency keys")
	}
}

// A refund is confirmed when the order's refunded amount reaches what it
// adds to what was refunded or asked before it; a failed one lowers the
// mark of those after it; a confirmed one never fails; only confirmed
// refunds that restock return units.
func TestConfirmRefunds(t *testing.T) {
	t.Parallel()
	o := paidRecord()
	now := time.Now()
	var ids []string
	for _, r := range []RefundRequest{{Amount: 1000}, {Lines: []Item{{"print", 1}}, Restock: true}, {Lines: []Item{{"print", 1}}, Restock: true, Key: "2"}} {
		x, err := o.DecideRefund(r, now)
		if err != nil {
			t.Fatal(err)
		}
		o.RefundsRequested = append(o.RefundsRequested, *x)
		ids = append(ids, x.ID)
	}
	if got := []int64{o.RefundsRequested[0].ConfirmsAt, o.RefundsRequested[1].ConfirmsAt, o.RefundsRequested[2].ConfirmsAt}; got[0] != 1000 || got[1] != 3500 || got[2] != 6000 {
		t.Fatalf("marks %v", got)
	}
	if c := ConfirmRefunds(o.RefundsRequested, 999); len(c) != 0 {
		t.Errorf("confirmed early: %+v", c)
	}
	if c := ConfirmRefunds(o.RefundsRequested, 1000); len(c) != 1 || c[0].ID != ids[0] {
		t.Errorf("confirmed at 1000: %+v", c)
	}
	if len(ReturnedUnits(o.RefundsRequested)) != 0 {
		t.Errorf("units returned by an amount")
	}
	if !FailRefund(o.RefundsRequested, ids[1], "Stripe said no") || FailRefund(o.RefundsRequested, ids[0], "late") {
		t.Fatalf("fail: %+v", o.RefundsRequested)
	}
	if o.RefundsRequested[2].ConfirmsAt != 3500 || o.RefundsRequested[0].Status != RefundConfirmed {
		t.Fatalf("after a failure: %+v", o.RefundsRequested)
	}
	ConfirmRefunds(o.RefundsRequested, 3500)
	if got := ReturnedUnits(o.RefundsRequested); got["print"] != 1 {
		t.Errorf("units returned: %v", got)
	}
	// The order's units held: three bought, one returned.
	if held := withoutReturned([]Item{{"print", 3}}, ReturnedUnits(o.RefundsRequested)); FormatItems(held) != "print:2" {
		t.Errorf("held %v", held)
	}
	if held := withoutReturned([]Item{{"print", 1}}, map[string]int64{"print": 3}); len(held) != 0 {
		t.Errorf("held %v", held)
	}
}
