package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// What the owner sees matches what happened: a first declined payment on a
// new order is in its timeline and lists under failed_attempts; `caisse
// send` says when an event declined a card, oversold an order or brought a
// payment that does not pay it; a product not in the catalogue reads as
// such. A captured charge.refunded without its object key is processed,
// and one whose object says it is a customer is a dead letter naming both.
func TestOwnerSeesWhatHappened(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.env["CAISSE_ADDR"] = strings.TrimPrefix(a.url, "http://")
		a.putPrice("print-1", 90000, 1)
		send := func(args ...string) string {
			t.Helper()
			out, err := a.cli(append([]string{"send"}, args...)...)
			if err != nil {
				t.Fatalf("send %v: %v\n%s", args, err, out)
			}
			return out
		}

		// A new order whose first event is a declined card.
		out := send("--example", "payment_intent.payment_failed", "--order", "o_declined", "--product", "print-1", "--amount", "90000")
		if !strings.Contains(out, "o_declined: payment declined: Your card has insufficient funds.") {
			t.Errorf("send of a declined payment says:\n%s", out)
		}
		o := a.order("o_declined")
		if o.Status != caisse.StatusPending || o.FailedAttempts != 1 || len(o.Timeline) != 1 ||
			o.Timeline[0].Note != "payment declined: Your card has insufficient funds." || o.Timeline[0].Type != "payment_intent.payment_failed" {
			t.Errorf("the declined order %+v, timeline %+v", o, o.Timeline)
		}
		if ids := a.orderIDs("?status=failed_attempts"); len(ids) != 1 || ids[0] != "o_declined" {
			t.Errorf("?status=failed_attempts lists %v", ids)
		}
		if list, err := a.cli("orders", "list", "--status", "failed_attempts"); err != nil || !strings.Contains(list, "o_declined") ||
			!strings.Contains(list, "1 declined") {
			t.Errorf("orders list --status failed_attempts: %v\n%s", err, list)
		}

		// The last unit goes to o1; o2, paid after, is oversold.
		send("--example", "checkout.session.completed", "--order", "o1", "--product", "print-1", "--amount", "90000")
		out = send("--example", "checkout.session.completed", "--order", "o2", "--product", "print-1", "--amount", "90000")
		if !strings.Contains(out, "o2: not paid yet → paid (oversold: paid, but no stock was left for it)") &&
			!strings.Contains(out, "o2: pending → paid (oversold: paid, but no stock was left for it)") {
			t.Errorf("send of an oversold sale says:\n%s", out)
		}

		// A payment of 1.00 € naming a 900.00 € order does not pay it.
		send("--example", "checkout.session.completed", "--order", "o3", "--product", "print-1", "--amount", "90000", "--unpaid")
		out = send("--example", "payment_intent.succeeded", "--order", "o3", "--product", "print-1", "--amount", "100",
			"--payment-intent", "pi_cheap")
		if !strings.Contains(out, "payment mismatch: a payment does not pay the order") {
			t.Errorf("send of a mismatched payment says:\n%s", out)
		}

		// A product the catalogue does not have.
		send("--example", "checkout.session.completed", "--order", "o4", "--product", "ghost", "--amount", "500")
		if show, err := a.cli("orders", "show", "o4"); err != nil || !strings.Contains(show, "product ghost is not in the catalogue") {
			t.Errorf("orders show of an unknown product: %v\n%s", err, show)
		}

		// Real shapes.
		captured := decodeTestPayload(t, "evt_captured", "charge.refunded",
			`{"id":"ch_chargeid","amount_refunded":500,"created":1546324243,"customer":"cus_customerid"}`)
		if ev := a.deliverAndWait(captured); ev.Status != caisse.EventProcessed {
			t.Errorf("the captured charge.refunded without its object key: %+v", ev)
		}
		contradicts := decodeTestPayload(t, "evt_contradicts", "charge.refunded",
			`{"id":"cus_1","object":"customer","amount":500,"amount_refunded":500}`)
		ev := a.deliverAndWait(contradicts)
		if ev.Status != caisse.EventFailed || !strings.Contains(ev.LastError, `is a "customer", not the charge a charge.refunded event carries`) {
			t.Errorf("an object that contradicts its type: %+v", ev)
		}
	})
}

// decodeTestPayload is a signed-ready event of a type around a data.object
// given as JSON, as Stripe (or a captured fixture) writes it.
func decodeTestPayload(t *testing.T, id, typ, object string) []byte {
	t.Helper()
	return []byte(`{"id":"` + id + `","object":"event","api_version":"2018-01-23","created":1546324243,"livemode":false,` +
		`"pending_webhooks":1,"type":"` + typ + `","data":{"object":` + object + `}}`)
}

// A payment that names a Stripe customer and no address anywhere: with a
// secret key, the confirmation goes to the customer's email as Stripe has
// it.
func TestConfirmationToTheStripeCustomer(t *testing.T) {
	t.Parallel()
	fake := stripemock.NewFake(t)
	fake.AddCustomer("cus_camille", "camille@example.com")
	r := startReceivers(t, smtptest.Options{})
	a := setup(t, sqliteDB, r.env, withStripe(fake.URL))
	a.putPrice("print-1", 90000, 1)
	payload := build(t, stripe.Example{Type: "payment_intent.succeeded", OrderID: "o_cus", ProductID: "print-1", Amount: 90000},
		func(obj map[string]any) { obj["receipt_email"], obj["customer"] = nil, "cus_camille" })
	a.deliverAndWait(payload)
	a.until("the confirmation sent", func() bool { return len(r.mail.Messages()) > 0 })
	if m := r.mail.Only(t); len(m.To) != 1 || m.To[0] != "camille@example.com" {
		t.Errorf("the confirmation went to %v", m.To)
	}
	var asked int
	for _, req := range fake.Requests() {
		if req.Method == http.MethodGet && req.Path == "/v1/customers/cus_camille" {
			asked++
		}
	}
	if asked != 1 {
		t.Errorf("Stripe was asked for the customer %d times, want 1", asked)
	}
}
