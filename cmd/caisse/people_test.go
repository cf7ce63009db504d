package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/stripe"
)

// permutations returns every ordering of n things, as lists of indexes.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// checkoutEvents are the events Stripe sends about one order paid through
// a shop-made Checkout Session: its payment intent carries the order's
// metadata (as caisse's checkout sets it) but no receipt_email, the charge
// the card's billing address, and only the session says who the customer
// is and in which language. edit changes each event's object.
func checkoutEvents(t *testing.T, order, email, locale string, edit func(typ string, obj map[string]any)) map[string][]byte {
	t.Helper()
	ex := stripe.Example{OrderID: order, ProductID: "tee-m", Amount: 2500, Email: email}
	out := map[string][]byte{}
	for _, typ := range []string{"payment_intent.created", "payment_intent.succeeded", "charge.succeeded", "checkout.session.completed"} {
		e := ex
		e.Type = typ
		out[typ] = build(t, e, func(obj map[string]any) {
			switch typ {
			case "checkout.session.completed":
				obj["locale"] = locale
			case "payment_intent.created", "payment_intent.succeeded":
				obj["receipt_email"] = nil
				if typ == "payment_intent.created" {
					obj["status"], obj["amount_received"] = "requires_payment_method", 0
				}
			}
			if edit != nil {
				edit(typ, obj)
			}
		})
	}
	return out
}

// confirmations are the confirmation emails the mail server received for
// an order: its id appears in the subject.
func confirmations(t *testing.T, r *receivers, order string) []smtptest.Email {
	t.Helper()
	var out []smtptest.Email
	for _, m := range r.mail.Messages() {
		e := smtptest.ParseEmail(t, m.Data)
		if strings.Contains(e.Subject, order+" ") || strings.HasSuffix(e.Subject, order) {
			e.Header["X-Test-To"] = m.To
			out = append(out, e)
		}
	}
	return out
}

// The buyer hears of the order once, at the address and in the language
// the Checkout Session gives, whatever order Stripe's events come in and
// however often: every one of the 24 orderings of a payment intent
// created and succeeded, its charge and the session, each event delivered
// once or twice. An address that comes ten minutes after the payment
// still gets the one confirmation; one that never comes is recorded not
// sent, saying why, once CAISSE_ADDRESS_WAIT is over. caisse's clock is
// the test's, so "later" needs no sleep.
func TestConfirmationWhateverTheOrderOfEvents(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		a := setup(t, db, r.env, func(env map[string]string) {
			env[testClock] = ""
			env["CAISSE_LOCALE"] = "en"
		})
		a.putPrice("tee-m", 2500, 1000)
		types := []string{"payment_intent.created", "payment_intent.succeeded", "charge.succeeded", "checkout.session.completed"}
		rng := rand.New(rand.NewPCG(20, uint64(len(db))))
		var ids []string
		orders := map[string]string{} // order → the session's address
		for i, perm := range permutations(len(types)) {
			order := fmt.Sprintf("o_perm_%02d", i)
			email := fmt.Sprintf("buyer%02d@example.com", i)
			orders[order] = email
			events := checkoutEvents(t, order, email, "fr", nil)
			var deliveries [][]byte
			for _, k := range perm {
				deliveries = append(deliveries, events[types[k]])
				ev, _ := stripe.DecodeEvent(events[types[k]])
				ids = append(ids, ev.ID)
			}
			for _, k := range perm {
				if rng.IntN(2) == 0 {
					at := rng.IntN(len(deliveries) + 1)
					deliveries = append(deliveries[:at], append([][]byte{events[types[k]]}, deliveries[at:]...)...)
				}
			}
			for _, p := range deliveries {
				a.deliver(p)
			}
		}
		a.wait(ids...)
		// The emails wait a moment (CAISSE's email delay) for the rest of
		// the customer's events; caisse's clock moves past it.
		a.clock.advance(5 * time.Second)
		a.until("a confirmation for each order", func() bool { return len(r.mail.Messages()) >= len(orders) })
		a.until("every email sent", a.drained)
		for order, email := range orders {
			got := confirmations(t, r, order)
			if len(got) != 1 {
				t.Fatalf("order %s: %d confirmation emails, want 1", order, len(got))
			}
			if to := got[0].Header["X-Test-To"]; len(to) != 1 || to[0] != email || got[0].Header.Get("Content-Language") != "fr" {
				t.Errorf("order %s: confirmation to %v in %q, want %s in fr (the session's)", order, to, got[0].Header.Get("Content-Language"), email)
			}
			rows := a.deliveriesOf("channel=email&order=" + order)
			if len(rows) != 1 || rows[0].Topic != caisse.TopicOrderConfirmation || rows[0].Status != caisse.DeliveryDelivered ||
				rows[0].Recipient != email || rows[0].Attempts != 1 {
				t.Errorf("order %s: email rows %+v, want one confirmation delivered to %s at the first attempt", order, rows, email)
			}
		}

		// The address comes ten minutes after the payment, with the
		// session: the confirmation waited for it, spending no attempt.
		late := checkoutEvents(t, "o_late", "late@example.com", "fr", func(typ string, obj map[string]any) {
			if typ == "charge.succeeded" {
				obj["billing_details"] = map[string]any{"email": nil, "name": nil}
				obj["receipt_email"] = nil
			}
		})
		a.deliverAndWait(late["payment_intent.succeeded"])
		a.deliverAndWait(late["charge.succeeded"])
		if o := a.order("o_late"); o.Status != caisse.StatusPaid || o.CustomerEmail != "" {
			t.Fatalf("o_late before its session: %+v", o)
		}
		a.clock.advance(5 * time.Second)
		waiting := func(order string) func() bool {
			return func() bool {
				rows := a.deliveriesOf("channel=email&order=" + order)
				return len(rows) == 1 && strings.HasPrefix(rows[0].LastError, "waiting for the customer's address") && rows[0].Attempts == 0 &&
					rows[0].Status == caisse.DeliveryPending
			}
		}
		a.until("the confirmation of o_late waits for an address", waiting("o_late"))
		a.clock.advance(10 * time.Minute)
		a.deliverAndWait(late["checkout.session.completed"])
		a.clock.advance(5 * time.Second)
		a.until("o_late's confirmation sent", func() bool { return len(confirmations(t, r, "o_late")) > 0 })
		a.until("every email sent", a.drained)
		if got := confirmations(t, r, "o_late"); len(got) != 1 || got[0].Header["X-Test-To"][0] != "late@example.com" ||
			got[0].Header.Get("Content-Language") != "fr" {
			t.Fatalf("o_late: %d confirmations %+v, want one to late@example.com in fr", len(got), got)
		}
		if rows := a.deliveriesOf("channel=email&order=o_late"); len(rows) != 1 || rows[0].Attempts != 1 {
			t.Errorf("o_late's email rows %+v: waiting must not count as an attempt", rows)
		}

		// No address ever comes: once the wait is over the email is
		// recorded not sent, and says why.
		none := checkoutEvents(t, "o_none", "none@example.com", "fr", func(typ string, obj map[string]any) {
			if typ == "charge.succeeded" {
				obj["billing_details"] = map[string]any{"email": nil}
				obj["receipt_email"] = nil
			}
		})
		a.deliverAndWait(none["payment_intent.succeeded"])
		a.deliverAndWait(none["charge.succeeded"])
		a.clock.advance(5 * time.Second)
		a.until("the confirmation of o_none waits for an address", waiting("o_none"))
		a.clock.advance(time.Hour)
		a.until("o_none's confirmation skipped", func() bool {
			rows := a.deliveriesOf("channel=email&order=o_none")
			return len(rows) == 1 && rows[0].Status == caisse.DeliverySkipped
		})
		rows := a.deliveriesOf("channel=email&order=o_none")
		if !strings.Contains(rows[0].LastError, "no address is known for the customer") || !strings.Contains(rows[0].LastError, "CAISSE_ADDRESS_WAIT") {
			t.Errorf("o_none's skipped email says %q, want why", rows[0].LastError)
		}
		if got := confirmations(t, r, "o_none"); len(got) != 0 {
			t.Errorf("o_none: %d emails sent without an address", len(got))
		}
		var o caisse.Order
		if s := a.admin(http.MethodGet, "/api/admin/orders/o_perm_00", nil, &o); s != http.StatusOK || o.Customer.Name != "Camille Martin" ||
			o.Customer.Email != "buyer00@example.com" || o.Locale != "fr" {
			t.Errorf("the order shows its customer as %+v (locale %q)", o.Customer, o.Locale)
		}
	})
}
