package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// hookTypes lists the types of the webhooks the shop's endpoint received.
func hookTypes(t *testing.T, h *hookServer) []string {
	t.Helper()
	var types []string
	for _, r := range h.requests() {
		var m outboundMessage
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		types = append(types, m.Type)
	}
	return types
}

// A partial refund, then a dispute that opens and is won: the order is
// back to partially refunded, and the refund was announced once on each
// channel (one email to the customer, one webhook to the shop).
func TestDisputeWonAfterPartialRefundAnnouncesTheRefundOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		a := setup(t, db, r.env)
		a.putPrice("art", 2500, 3)
		order := "order-partial"
		ex := stripe.Example{OrderID: order, ProductID: "art", Amount: 2500, Email: "real@example.com"}
		for _, step := range []func(e stripe.Example) stripe.Example{
			func(e stripe.Example) stripe.Example { e.Type = "checkout.session.completed"; return e },
			func(e stripe.Example) stripe.Example { e.Type = "charge.refunded"; e.Refunded = 1000; return e },
			func(e stripe.Example) stripe.Example { e.Type = "charge.dispute.created"; e.Amount = 1500; return e },
			func(e stripe.Example) stripe.Example {
				e.Type, e.DisputeStatus, e.Amount = "charge.dispute.closed", "won", 1500
				return e
			},
		} {
			a.process(step(ex))
			a.until("the notices sent", a.drained)
		}
		o := a.order(order)
		if o.Status != caisse.StatusPartiallyRefunded || o.AmountRefunded != 1000 {
			t.Fatalf("after the dispute was won: %+v", o)
		}
		// The customer hears of the payment and of the refund, once each.
		var mails int
		for _, m := range r.mail.Messages() {
			if slices.Contains(m.To, "real@example.com") {
				mails++
			}
		}
		var rows []string
		for _, d := range a.deliveriesOf("order=" + order) {
			if d.Topic == caisse.TopicPartialRefund || d.Topic == caisse.HookOrderPartialRefund {
				rows = append(rows, string(d.Channel)+" "+d.Topic)
			}
		}
		slices.Sort(rows)
		if fmt.Sprint(rows) != "[email order_partially_refunded webhook order.partially_refunded]" || mails != 2 {
			t.Errorf("partial refund notices: rows %v, emails the customer received %d; want one email and one webhook, two emails in all", rows, mails)
		}
		if n := countOf(hookTypes(t, r.shop), caisse.HookOrderPartialRefund); n != 1 {
			t.Errorf("the shop's endpoint heard order.partially_refunded %d times, want once: %v", n, hookTypes(t, r.shop))
		}
	})
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// A fully refunded order of a unique artwork whose unit came back and sold
// again to another buyer; then a dispute opens on the refunded payment and
// closes, won or lost. The dispute moves no unit: the refunded order is not
// oversold, no second refund is asked of Stripe (CAISSE_OVERSOLD_POLICY
// refund), and the second buyer keeps the artwork.
func TestDisputeAfterFullRefundNeverResells(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		for _, outcome := range []string{"won", "lost"} {
			t.Run(outcome, func(t *testing.T) {
				fake := stripemock.NewFake(t)
				a := setup(t, db, withStripe(fake.URL), func(env map[string]string) { env["CAISSE_OVERSOLD_POLICY"] = "refund" })
				a.putPrice("art", 2500, 1)
				order := "order-refunded"
				fake.AddPaymentIntent("pi_"+order, 2500, "eur")
				ex := stripe.Example{OrderID: order, ProductID: "art", Amount: 2500}
				paid, refunded := ex, ex
				paid.Type, refunded.Type = "checkout.session.completed", "charge.refunded"
				a.process(paid, refunded)
				if p := a.product("art"); p.Stock != 1 {
					t.Fatalf("after the full refund: %+v", p)
				}
				a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "order-second", ProductID: "art", Amount: 2500})
				if p, o := a.product("art"), a.order("order-second"); p.Stock != 0 || o.Oversold {
					t.Fatalf("the second sale: %+v, %+v", p, o)
				}
				opened, closed := ex, ex
				opened.Type = "charge.dispute.created"
				closed.Type, closed.DisputeStatus = "charge.dispute.closed", outcome
				a.process(opened)
				if p := a.product("art"); p.Stock != 0 {
					t.Fatalf("after the dispute opened: %+v", p)
				}
				a.process(closed)
				a.until("the deliveries settled", a.drained)
				o := a.order(order)
				if o.Oversold || o.OversoldRefund != "" || o.AmountRefunded != 2500 {
					t.Errorf("the refunded order after the dispute %s: %+v", outcome, o)
				}
				if ids := a.orderIDs("?status=oversold"); len(ids) != 0 {
					t.Errorf("oversold orders: %v", ids)
				}
				if refunds := refundRequests(fake); len(refunds) != 0 {
					t.Errorf("refunds asked of Stripe: %+v", refunds)
				}
				if p := a.product("art"); p.Stock != 0 {
					t.Errorf("the artwork after the dispute %s: %+v", outcome, p)
				}
				if o := a.order("order-second"); o.Oversold || o.Status != caisse.StatusPaid {
					t.Errorf("the second buyer's order: %+v", o)
				}
			})
		}
	})
}
