package caisse

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// A stranger's Payment Link session names a paid order, pays less, and its
// payment fails: in any order of those events, the order's customer and the
// shop's systems hear nothing of the failure, the team one mismatch alert,
// and the order keeps its total.
func TestApplyStrangersFailedPaymentTellsNobody(t *testing.T) {
	t.Parallel()
	stranger := tev("evt_stranger", "checkout.session.completed", 400, Fact{ID: "cs_2", Kind: KindSession, OrderRef: "ord_1",
		PaymentIntent: "pi_2", Completed: true, SessionPaid: true, Amount: 100, Currency: "eur", Created: 400,
		CustomerEmail: "stranger@example.com"})
	failed := tev("evt_stranger_failed", "payment_intent.payment_failed", 401, Fact{ID: "pi_2", Kind: KindPaymentIntent, Amount: 100,
		Currency: "eur", PaymentError: "Your card was declined.", PaymentErrorAt: 401, FailedAttempts: []string{"evt_stranger_failed"},
		CustomerEmail: "stranger@example.com"})
	for _, order := range [][]testEvent{{stranger, failed}, {failed, stranger}} {
		l := newMemLedger(map[string]int64{"print": 5})
		r := Rules{Now: ticking()}
		apply(t, r, l, evCompletedPaid)
		apply(t, r, l, evPISucceeded)
		before := len(l.keys)
		for _, e := range order {
			apply(t, r, l, e)
		}
		var alerts []string
		for _, k := range l.keys[before:] {
			m := l.outbox[k]
			switch {
			case m.Channel == ChannelAlert:
				alerts = append(alerts, m.Topic)
			case m.Channel == ChannelWebhook && m.Topic == HookOrderMismatch:
			default:
				t.Errorf("%s first: %s was written for the order", order[0].ev.ID, k)
			}
		}
		if !slices.Equal(alerts, []string{TopicPaymentMismatch}) {
			t.Errorf("%s first: alerts %v, want one payment mismatch alert", order[0].ev.ID, alerts)
		}
		o := l.order(t, "ord_1")
		if o.Status != StatusPaid || o.AmountTotal != 1000 || o.AmountPaid != 1000 || o.FailedAttempts != 0 || o.PaymentError != "" {
			t.Errorf("%s first: the order %+v", order[0].ev.ID, o.Order)
		}
	}
}

// The order's own customer's declined card is still told.
func TestApplyOwnFailedPaymentIsTold(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"print": 5})
	apply(t, Rules{Now: ticking()}, l, evCompletedUnpaid)
	apply(t, Rules{Now: ticking()}, l, evPIFailed)
	var told []string
	for _, k := range l.keys {
		if strings.Contains(k, TopicPaymentFailed) || strings.Contains(k, HookOrderPaymentFailed) {
			told = append(told, k)
		}
	}
	if len(told) != 2 {
		t.Errorf("notices of the customer's own declined card: %v, want an email and a webhook", told)
	}
}

// An order whose checkout caisse opened shows its amount due as its total
// while only payments that do not pay it have come.
func TestSummarizeKeepsTheCheckoutsTotal(t *testing.T) {
	t.Parallel()
	s := Summarize([]Fact{{ID: "cs_cheap", Kind: KindSession, OrderRef: "ord_1", PaymentIntent: "pi_cheap", Completed: true,
		SessionPaid: true, Amount: 100, Currency: "eur"}}, &Terms{AmountDue: 500000, Currency: "eur"})
	if s.AmountTotal != 500000 || s.AmountPaid != 0 || len(s.Mismatches) != 1 || !slices.Equal(s.Foreign, []string{"pi_cheap"}) {
		t.Errorf("Summary %+v, want total 500000, nothing paid, one mismatch, pi_cheap foreign", s)
	}
}

func disputeEvent(id string, created int64, status string) testEvent {
	return tev(id, "charge.dispute."+map[bool]string{true: "created", false: "closed"}[DisputeOpen(status)], created,
		Fact{ID: "dp_1", Kind: KindDispute, Charge: "ch_1", PaymentIntent: "pi_1", DisputeStatus: status, Amount: 1000,
			Currency: "eur", DisputeReason: "fraudulent"})
}

// A dispute that opens and closes after a partial refund announces the
// refund once per channel: notices are keyed by the refunded amount they
// announce, not by the change that led back to it.
func TestApplyDisputeAfterPartialRefundTellsTheRefundOnce(t *testing.T) {
	t.Parallel()
	for _, outcome := range []string{"won", "warning_closed"} {
		l := newMemLedger(map[string]int64{"print": 1})
		r := Rules{RestockOnRefund: true, Now: ticking()}
		for _, e := range []testEvent{evCompletedPaid, evPISucceeded, evRefundPartial,
			disputeEvent("evt_dp_open", 300, "needs_response"), disputeEvent("evt_dp_closed", 400, outcome)} {
			apply(t, r, l, e)
		}
		if o := l.order(t, "ord_1"); o.Status != StatusPartiallyRefunded {
			t.Fatalf("dispute %s: status %s, want partially_refunded", outcome, o.Status)
		}
		perChannel := map[Channel]int{}
		for _, k := range l.keys {
			if m := l.outbox[k]; m.Topic == TopicPartialRefund || m.Topic == HookOrderPartialRefund {
				perChannel[m.Channel]++
			}
		}
		if perChannel[ChannelEmail] != 1 || perChannel[ChannelWebhook] != 1 || len(perChannel) != 2 {
			t.Errorf("dispute %s: partial refund notices per channel %v, want one email and one webhook; outbox %v", outcome, perChannel, l.keys)
		}
		if s, _ := l.stock(t, "print"); s != 0 {
			t.Errorf("dispute %s: stock %d, want the partially refunded sale to keep its unit", outcome, s)
		}
	}
}

// A fully refunded order whose unit came back never takes it again when a
// dispute opens and closes on its payment (won or lost): not oversold, no
// second refund asked, the unit stays with whoever bought it since.
func TestApplyDisputeAfterFullRefundNeverResells(t *testing.T) {
	t.Parallel()
	for _, outcome := range []string{"won", "lost"} {
		for _, resold := range []bool{false, true} {
			l := newMemLedger(map[string]int64{"print": 1})
			r := Rules{RestockOnRefund: true, RefundOversold: true, Now: ticking()}
			for _, e := range []testEvent{evCompletedPaid, evPISucceeded, evRefundFull} {
				apply(t, r, l, e)
			}
			if s, _ := l.stock(t, "print"); s != 1 {
				t.Fatalf("after the full refund: stock %d, want the unit back", s)
			}
			if resold {
				apply(t, r, l, tev("evt_other", "checkout.session.completed", 250, Fact{ID: "cs_9", Kind: KindSession, OrderRef: "ord_9",
					PaymentIntent: "pi_9", Completed: true, SessionPaid: true, Amount: 1000, Currency: "eur", Items: []Item{{"print", 1}}}))
			}
			stockBefore, _ := l.stock(t, "print")
			open := apply(t, r, l, disputeEvent("evt_dp_open", 300, "needs_response"))
			if s, _ := l.stock(t, "print"); s != stockBefore {
				t.Errorf("dispute opened (resold %t): stock %d, want %d", resold, s, stockBefore)
			}
			closed := apply(t, r, l, disputeEvent("evt_dp_closed", 400, outcome))
			o := l.order(t, "ord_1")
			if o.Oversold || len(open.Oversold)+len(closed.Oversold) > 0 || len(o.Holds) != 0 {
				t.Errorf("dispute %s (resold %t): the refunded order is oversold %t, holds %+v", outcome, resold, o.Oversold, o.Holds)
			}
			if s, _ := l.stock(t, "print"); s != stockBefore {
				t.Errorf("dispute %s (resold %t): stock %d, want %d: a dispute moves no unit of a refunded order", outcome, resold, s, stockBefore)
			}
			for _, k := range l.keys {
				if strings.HasPrefix(k, "stripe:") || strings.Contains(k, HookOrderOversold) || strings.Contains(k, TopicOversold) {
					t.Errorf("dispute %s (resold %t): %s written", outcome, resold, k)
				}
			}
			if resold && l.order(t, "ord_9").Oversold {
				t.Errorf("dispute %s: the second buyer's order is oversold", outcome)
			}
		}
	}
}

func TestHoldingStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status         OrderStatus
		paid, refunded int64
		want           OrderStatus
	}{
		{StatusDisputed, 1000, 1000, StatusRefunded},
		{StatusDisputeLost, 1000, 1000, StatusRefunded},
		{StatusDisputed, 1000, 500, StatusDisputed},
		{StatusDisputeLost, 1000, 0, StatusDisputeLost},
		{StatusRefunded, 1000, 1000, StatusRefunded},
		{StatusPaid, 1000, 0, StatusPaid},
		{StatusDisputed, 0, 0, StatusDisputed},
	}
	for _, tt := range tests {
		if got := HoldingStatus(tt.status, tt.paid, tt.refunded); got != tt.want {
			t.Errorf("HoldingStatus(%s, %d, %d) = %s, want %s", tt.status, tt.paid, tt.refunded, got, tt.want)
		}
	}
}

// An early fraud warning is recorded on the order whose payment it names,
// whichever of it and the payment comes first: the same order, alert and
// (by policy) one refund request keyed by the charge, however often the
// warning is delivered.
func TestApplyEarlyFraudWarningConverges(t *testing.T) {
	t.Parallel()
	warning := tev("evt_efw", "radar.early_fraud_warning.created", 500, Fact{ID: "issfr_1", Kind: KindFraudWarning, Charge: "ch_1",
		PaymentIntent: "pi_1", FraudType: "made_with_stolen_card", Created: 499})
	charge := tev("evt_charge", "charge.succeeded", 102, Fact{ID: "ch_1", Kind: KindCharge, PaymentIntent: "pi_1", Amount: 1000, Currency: "eur"})
	orderings := map[string][]testEvent{
		"payment first":  {evCompletedPaid, evPISucceeded, charge, warning},
		"warning first":  {warning, evCompletedPaid, evPISucceeded, charge},
		"warning twice":  {evCompletedPaid, warning, evPISucceeded, warning, charge},
		"only a charge":  {charge, warning, evCompletedPaid},
		"refund arrives": {evCompletedPaid, warning, evRefundFull},
	}
	for name, events := range orderings {
		for _, policy := range []bool{false, true} {
			l := newMemLedger(map[string]int64{"print": 1})
			r := Rules{RestockOnRefund: true, RefundFraud: policy, Now: ticking()}
			for _, e := range events {
				apply(t, r, l, e)
			}
			o := l.order(t, "ord_1")
			want := &FraudWarning{ID: "issfr_1", FraudType: "made_with_stolen_card", Charge: "ch_1", At: time.Unix(499, 0).UTC()}
			if !reflect.DeepEqual(o.FraudWarning, want) {
				t.Errorf("%s: fraud warning %+v, want %+v", name, o.FraudWarning, want)
			}
			var alerts, refunds []string
			for _, k := range l.keys {
				switch m := l.outbox[k]; {
				case m.Topic == TopicFraudWarning:
					alerts = append(alerts, k)
					if text := m.Payload["text"].(string); strings.Contains(text, "buyer@example.com") ||
						!strings.Contains(text, "made_with_stolen_card") || !strings.Contains(text, "ord_1") {
						t.Errorf("%s: the alert says %q", name, text)
					}
				case m.Topic == KindRefundFraud:
					refunds = append(refunds, k)
					if m.Payload["payment_intent"] != "pi_1" {
						t.Errorf("%s: refund of %v", name, m.Payload)
					}
				}
			}
			wantRefunds := 0
			if policy {
				wantRefunds = 1
			}
			if len(alerts) != 1 || len(refunds) != wantRefunds || (policy && refunds[0] != "stripe:"+KindRefundFraud+":ch_1") {
				t.Errorf("%s (refund policy %t): alerts %v, refund requests %v", name, policy, alerts, refunds)
			}
			var noted int
			for _, e := range l.timeline["ord_1"] {
				if strings.Contains(e.Note, "early fraud warning") {
					noted++
				}
			}
			if noted != 1 {
				t.Errorf("%s: %d timeline entries note the warning, want 1: %+v", name, noted, l.timeline["ord_1"])
			}
		}
	}
}

// A declined card in the buyer's currency (Adaptive Pricing), before the
// session that converts it is known, is still the order's customer's: they
// are told, as a payment known not to be the order's never is.
func TestApplyDeclinedCardInTheBuyersCurrencyIsTold(t *testing.T) {
	t.Parallel()
	l := newMemLedger(map[string]int64{"print": 5})
	r := Rules{Now: ticking()}
	rec := &OrderRecord{Order: Order{ID: "ord_1", Status: StatusPending}, CheckoutItems: []Line{{ProductID: "print", Quantity: 1, UnitAmount: 1000}},
		CheckoutOpen: true, CheckoutTerms: Terms{AmountDue: 1000, Currency: "eur"}}
	l.orders["ord_1"] = rec
	apply(t, r, l, tev("evt_usd_failed", "payment_intent.payment_failed", 150, Fact{ID: "pi_usd", Kind: KindPaymentIntent, OrderRef: "ord_1",
		Amount: 1100, Currency: "usd", PaymentError: "Your card was declined.", PaymentErrorAt: 150, FailedAttempts: []string{"evt_usd_failed"}}))
	if _, ok := l.outbox["email:"+TopicPaymentFailed+":ord_1:pi_usd:evt_usd_failed"]; !ok {
		t.Errorf("the customer was not told of their declined card: %v", l.keys)
	}
}
