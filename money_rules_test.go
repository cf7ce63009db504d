package caisse

import (
	"slices"
	"strings"
	"testing"
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
	if s.AmountTotal != 500000 || s.AmountPaid != 0 || len(s.Mismatches) != 1 {
		t.Errorf("Summary %+v, want total 500000, nothing paid, one mismatch, no payment of the order", s)
	}
}
