package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// A stranger opens a Payment Link, types the id of someone else's paid
// order and pays less than it costs; then that payment fails. Whatever the
// order of those events, the order's real customer is never written to, the
// shop's systems hear nothing about the order but the mismatch, the team
// gets exactly one mismatch alert, and the order keeps its own total.
func TestStrangersFailingPaymentTellsTheOrdersCustomerNothing(t *testing.T) {
	orderings := map[string][]string{
		"completed then failed": {"completed", "failed"},
		"failed then completed": {"failed", "completed"},
	}
	eachDB(t, func(t *testing.T, db testDB) {
		for name, ordering := range orderings {
			t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
				r := startReceivers(t, smtptest.Options{})
				a := setup(t, db, r.env)
				a.putPrice("art", 2500, 5)
				order := "order-stranger"
				paid := build(t, stripe.Example{Type: "checkout.session.completed", OrderID: order, ProductID: "art",
					Session: "cs_test_real", PaymentIntent: "pi_real", Amount: 2500, Email: "real@example.com"}, nil)
				a.deliverAndWait(paid)
				a.until("the paid order's notices sent", a.drained)
				before := a.order(order)
				if before.Status != caisse.StatusPaid || before.AmountTotal != 2500 {
					t.Fatalf("the paid order: %+v", before)
				}
				mails, hooks := len(r.mail.Messages()), len(r.shop.requests())

				// A Payment Link session: no metadata, only the order id
				// the stranger typed as client_reference_id.
				stranger := func(obj map[string]any) {
					obj["metadata"] = map[string]any{}
					if obj["object"] == "checkout.session" {
						obj["client_reference_id"] = order
					}
				}
				events := map[string][]byte{
					"completed": build(t, stripe.Example{Type: "checkout.session.completed", OrderID: order, ProductID: "art",
						Session: "cs_test_stranger", PaymentIntent: "pi_stranger", Amount: 100, Email: "stranger@example.com"}, stranger),
					"failed": build(t, stripe.Example{Type: "payment_intent.payment_failed", OrderID: order, ProductID: "art",
						PaymentIntent: "pi_stranger", Amount: 100, Email: "stranger@example.com"}, stranger),
				}
				for _, e := range ordering {
					if ev := a.deliverAndWait(events[e]); ev.Status != caisse.EventProcessed {
						t.Fatalf("%s: %+v", e, ev)
					}
				}
				a.until("the notices sent", a.drained)

				o := a.order(order)
				if o.Status != caisse.StatusPaid || o.AmountTotal != before.AmountTotal || o.AmountDue != before.AmountDue ||
					o.AmountPaid != before.AmountPaid || !o.PaymentMismatch || o.PaymentError != "" || o.FailedAttempts != 0 {
					t.Fatalf("the order after a stranger's payment: %+v", o)
				}
				for _, m := range r.mail.Messages()[mails:] {
					if slices.Contains(m.To, "real@example.com") {
						t.Errorf("the order's customer was emailed about a stranger’s payment: %v", m.To)
					}
				}
				for _, d := range a.deliveriesOf("channel=email&order=" + order) {
					if d.Topic == caisse.TopicPaymentFailed {
						t.Errorf("a payment-failed email was written for the order: %+v", d)
					}
				}
				var types []string
				for _, h := range r.shop.requests()[hooks:] {
					var m outboundMessage
					if err := json.Unmarshal(h.Body, &m); err != nil {
						t.Fatal(err)
					}
					types = append(types, m.Type)
				}
				if fmt.Sprint(types) != "[order.payment_mismatch]" {
					t.Errorf("the shop's endpoint heard %v, want only [order.payment_mismatch]", types)
				}
				var alerts []string
				for _, d := range a.deliveriesOf("channel=alert&order=" + order) {
					alerts = append(alerts, d.Topic)
				}
				if fmt.Sprint(alerts) != "["+caisse.TopicPaymentMismatch+"]" {
					t.Errorf("alerts about the order: %v, want exactly one payment mismatch alert", alerts)
				}
			})
		}
	})
}

// An order of caisse's checkout, still open, shows what it costs when a
// stranger's cheaper payment names it: the mismatch never sets its total.
func TestStrangersPaymentKeepsTheOrdersTotal(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		fake := stripemock.NewFake(t)
		a := setup(t, db, withStripe(fake.URL))
		a.putPrice("art", 500000, 1)
		status, ans, _ := a.checkout(buy("art", 1), "")
		if status != http.StatusCreated {
			t.Fatalf("checkout: %d %+v", status, ans.Error)
		}
		if o := a.order(ans.OrderID); o.AmountTotal != 500000 {
			t.Fatalf("the open checkout's order: %+v", o)
		}
		a.deliverAndWait(build(t, stripe.Example{Type: "checkout.session.completed", OrderID: ans.OrderID, ProductID: "art",
			Session: "cs_test_cheap", PaymentIntent: "pi_cheap", Amount: 100, Email: "cheap@example.com"}, nil))
		if o := a.order(ans.OrderID); o.AmountTotal != 500000 || o.AmountDue != 500000 || o.AmountPaid != 0 || !o.PaymentMismatch {
			t.Fatalf("after a stranger's 1.00 € payment: amount_total %d, due %d, paid %d, mismatch %t; want 500000, 500000, 0, true",
				o.AmountTotal, o.AmountDue, o.AmountPaid, o.PaymentMismatch)
		}
	})
}
