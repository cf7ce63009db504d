package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// refundAnswer is POST /api/admin/orders/{id}/refund's answer: the refund,
// or an error.
type refundAnswer struct {
	caisse.OwnerRefund
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// paidOrder makes order id paid for quantity units of product at 25.00 €
// each, the product having stock units before.
func paidOrder(t *testing.T, a *app, fake *stripemock.Fake, id, product string, quantity, stock int64) stripe.Example {
	t.Helper()
	a.putPrice(product, 2500, stock)
	fake.AddPaymentIntent("pi_"+id, 2500*quantity, "eur")
	ex := stripe.Example{Type: "checkout.session.completed", OrderID: id, ProductID: product, Quantity: quantity, Amount: 2500 * quantity,
		Email: "buyer@example.com"}
	a.process(ex)
	if o := a.order(id); o.Status != caisse.StatusPaid {
		t.Fatalf("order %s: %+v", id, o)
	}
	return ex
}

// ownerRefunds are the refunds the owner asked caisse for, as Stripe
// received them.
func ownerRefunds(fake *stripemock.Fake) []stripemock.Request {
	var out []stripemock.Request
	for _, r := range refundRequests(fake) {
		if strings.HasPrefix(r.IdempotencyKey, "refund:owner:") {
			out = append(out, r)
		}
	}
	return out
}

// The owner refunds an amount of a paid order: Stripe receives one refund
// of that amount of the order's payment, with an idempotency key, however
// often the same request comes; the order shows it requested at once, and
// refunded once Stripe's charge.refunded says so, partially_refunded,
// with the stock untouched (an amount returns no lines). More than what is
// left is refused saying what is left, in the order's currency.
func TestRefundAnAmount(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		fake := stripemock.NewFake(t)
		a := setup(t, db, withStripe(fake.URL))
		ex := paidOrder(t, a, fake, "order-amount", "tee", 3, 5)

		var first, again refundAnswer
		if s := a.admin(http.MethodPost, "/api/admin/orders/order-amount/refund", map[string]any{"amount": 1000, "reason": "requested_by_customer"}, &first); s != http.StatusAccepted {
			t.Fatalf("refund: %d %+v", s, first)
		}
		if first.Status != caisse.RefundRequested || first.Amount != 1000 || first.OrderID != "order-amount" || !strings.HasPrefix(first.ID, "refund:owner:order-amount:") {
			t.Fatalf("the refund requested: %+v", first)
		}
		if s := a.admin(http.MethodPost, "/api/admin/orders/order-amount/refund", map[string]any{"amount": 1000, "reason": "requested_by_customer"}, &again); s != http.StatusAccepted ||
			again.ID != first.ID || !again.Repeated {
			t.Fatalf("the same request again: %d %+v", s, again)
		}
		o := a.order("order-amount")
		if len(o.RefundsRequested) != 1 || o.RefundsRequested[0].Status != caisse.RefundRequested || o.Status != caisse.StatusPaid {
			t.Fatalf("the order at once: %+v", o.RefundsRequested)
		}
		a.until("Stripe's refund recorded", func() bool { return a.order("order-amount").RefundsRequested[0].Refund != "" })
		refunds := ownerRefunds(fake)
		if len(refunds) != 1 || refunds[0].Form.Get("amount") != "1000" || refunds[0].Form.Get("payment_intent") != "pi_order-amount" ||
			refunds[0].IdempotencyKey != first.ID || refunds[0].Form.Get("reason") != "requested_by_customer" ||
			refunds[0].Form.Get("metadata[order_id]") != "order-amount" {
			t.Fatalf("refunds Stripe received: %+v", refunds)
		}

		// 75.00 € paid, 10.00 € asked for: 65.00 € is left.
		var over refundAnswer
		if s := a.admin(http.MethodPost, "/api/admin/orders/order-amount/refund", map[string]any{"amount": 6501}, &over); s != http.StatusBadRequest ||
			!strings.Contains(over.Error.Message, "€65.00") {
			t.Errorf("over what is left: %d %+v", s, over.Error)
		}
		for body, want := range map[string]int{
			`{"amount": 0}`:  http.StatusBadRequest,
			`{"amount": -5}`: http.StatusBadRequest,
			`{"lines": [{"product_id": "mug", "quantity": 1}]}`: http.StatusBadRequest,
			`{"lines": [{"product_id": "tee", "quantity": 4}]}`: http.StatusBadRequest,
			`{"amount": 100, "restock": true}`:                  http.StatusBadRequest,
			`{"amount": 100, "reason": "changed_mind"}`:         http.StatusBadRequest,
			`{"amount": 100, "currency": "usd"}`:                http.StatusBadRequest,
		} {
			var ans refundAnswer
			if s := a.admin(http.MethodPost, "/api/admin/orders/order-amount/refund", rawJSON(body), &ans); s != want || ans.Error.Message == "" {
				t.Errorf("%s: %d %+v, want %d", body, s, ans.Error, want)
			}
		}
		var missing refundAnswer
		if s := a.admin(http.MethodPost, "/api/admin/orders/no-such-order/refund", map[string]any{"amount": 100}, &missing); s != http.StatusNotFound {
			t.Errorf("no such order: %d", s)
		}

		// Stripe's event confirms it.
		refunded := ex
		refunded.Type, refunded.Refunded, refunded.Amount = "charge.refunded", 1000, 7500
		a.process(refunded)
		o = a.order("order-amount")
		if o.Status != caisse.StatusPartiallyRefunded || o.AmountRefunded != 1000 || o.RefundsRequested[0].Status != caisse.RefundConfirmed {
			t.Fatalf("after charge.refunded: %s %d %+v", o.Status, o.AmountRefunded, o.RefundsRequested)
		}
		if p := a.product("tee"); p.Stock != 2 {
			t.Errorf("the stock after refunding an amount: %+v, want 2 (5 less 3 sold)", p)
		}
		// Unpaid orders are not refunded.
		a.putPrice("cap", 2500, 1)
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "order-unpaid", ProductID: "cap", Amount: 2500, Unpaid: true})
		var unpaid refundAnswer
		if s := a.admin(http.MethodPost, "/api/admin/orders/order-unpaid/refund", map[string]any{"amount": 100}, &unpaid); s != http.StatusConflict ||
			!strings.Contains(unpaid.Error.Message, "only a paid order") {
			t.Errorf("an unpaid order: %d %+v", s, unpaid.Error)
		}
	})
}

// rawJSON is a request body sent as it is.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// Two of three units returned with restock: Stripe refunds their price,
// and once its charge.refunded confirms it, the order is
// partially_refunded and the two units are back in stock; the same
// refund's event again moves nothing. Without restock, the stock stays.
func TestRefundLinesRestock(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		for _, restock := range []bool{true, false} {
			name := map[bool]string{true: "restock", false: "keep"}[restock]
			t.Run(name, func(t *testing.T) {
				fake := stripemock.NewFake(t)
				a := setup(t, db, withStripe(fake.URL))
				order := "order-lines-" + name
				ex := paidOrder(t, a, fake, order, "print", 3, 3)
				if p := a.product("print"); p.Stock != 0 {
					t.Fatalf("sold: %+v", p)
				}
				var ans refundAnswer
				body := map[string]any{"lines": []map[string]any{{"product_id": "print", "quantity": 2}}, "restock": restock}
				if s := a.admin(http.MethodPost, "/api/admin/orders/"+order+"/refund", body, &ans); s != http.StatusAccepted || ans.Amount != 5000 {
					t.Fatalf("refund: %d %+v", s, ans)
				}
				a.until("Stripe asked", func() bool { return len(ownerRefunds(fake)) == 1 })
				if r := ownerRefunds(fake)[0]; r.Form.Get("amount") != "5000" {
					t.Fatalf("refund Stripe received: %+v", r.Form)
				}
				// Only one unit is left to return.
				var more refundAnswer
				if s := a.admin(http.MethodPost, "/api/admin/orders/"+order+"/refund",
					map[string]any{"lines": []map[string]any{{"product_id": "print", "quantity": 2}}, "key": "second"}, &more); s != http.StatusBadRequest ||
					!strings.Contains(more.Error.Message, "1 of print left") {
					t.Errorf("more lines than are left: %d %+v", s, more.Error)
				}
				if p := a.product("print"); p.Stock != 0 {
					t.Errorf("the stock before Stripe confirms: %+v", p)
				}
				refunded := ex
				refunded.Type, refunded.Refunded, refunded.Amount = "charge.refunded", 5000, 7500
				a.process(refunded)
				refunded.EventID = stripe.NewID("evt")
				a.process(refunded)
				o := a.order(order)
				if o.Status != caisse.StatusPartiallyRefunded || o.RefundsRequested[0].Status != caisse.RefundConfirmed {
					t.Fatalf("after charge.refunded: %s %+v", o.Status, o.RefundsRequested)
				}
				want := int64(0)
				if restock {
					want = 2
				}
				if p := a.product("print"); p.Stock != want {
					t.Errorf("the stock after the refund: %d, want %d", p.Stock, want)
				}
				// The rest refunded from Stripe's Dashboard: a full refund
				// restocks the last unit by policy, never the two again.
				refunded.EventID, refunded.Refunded = stripe.NewID("evt"), 7500
				a.process(refunded)
				if o := a.order(order); o.Status != caisse.StatusRefunded {
					t.Fatalf("after the full refund: %s", o.Status)
				}
				if p := a.product("print"); p.Stock != 3 {
					t.Errorf("the stock after the full refund: %d, want 3", p.Stock)
				}
			})
		}
	})
}

// Without a secret key caisse cannot ask Stripe: it says so, naming
// STRIPE_SECRET_KEY, and records nothing.
func TestRefundNeedsASecretKey(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putPrice("tee", 2500, 1)
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "order-nokey", ProductID: "tee", Amount: 2500})
		var ans refundAnswer
		if s := a.admin(http.MethodPost, "/api/admin/orders/order-nokey/refund", map[string]any{"amount": 100}, &ans); s != http.StatusConflict ||
			!strings.Contains(ans.Error.Message, "STRIPE_SECRET_KEY") {
			t.Errorf("without a key: %d %+v", s, ans.Error)
		}
		if o := a.order("order-nokey"); len(o.RefundsRequested) != 0 {
			t.Errorf("recorded: %+v", o.RefundsRequested)
		}
	})
}

// caisse orders refund asks for the refund a running caisse makes: an
// amount in the order's currency, or lines with restock; the same command
// again is the same refund, and one over what is left is refused saying
// what is left.
func TestRefundCommand(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		fake := stripemock.NewFake(t)
		a := setup(t, db, withStripe(fake.URL))
		ex := paidOrder(t, a, fake, "order-cli", "print", 3, 3)

		out, err := a.cli("orders", "refund", "order-cli", "--line", "print:2", "--restock", "--reason", "requested_by_customer")
		if err != nil || !strings.Contains(out, "€50.00") || !strings.Contains(out, "2 × print") {
			t.Fatalf("caisse orders refund: %v\n%s", err, out)
		}
		if out, err := a.cli("orders", "refund", "order-cli", "--line", "print:2", "--restock", "--reason", "requested_by_customer"); err != nil ||
			!strings.Contains(out, "asked for before") {
			t.Errorf("the same command again: %v\n%s", err, out)
		}
		if _, err := a.cli("orders", "refund", "order-cli", "--amount", "25.01", "--key", "more"); err == nil || !strings.Contains(err.Error(), "€25.00") {
			t.Errorf("over what is left: %v", err)
		}
		if _, err := a.cli("orders", "refund", "order-cli", "--line", "print"); err == nil || !strings.Contains(err.Error(), "product:quantity") {
			t.Errorf("a line without a quantity: %v", err)
		}
		var x caisse.OwnerRefund
		out, err = a.cli("orders", "refund", "order-cli", "--amount", "5", "--json")
		if err != nil || json.Unmarshal([]byte(out), &x) != nil || x.Amount != 500 || x.Status != caisse.RefundRequested {
			t.Fatalf("caisse orders refund --amount 5 --json: %v\n%s", err, out)
		}
		a.until("Stripe asked twice", func() bool { return len(ownerRefunds(fake)) == 2 })
		amounts := []string{ownerRefunds(fake)[0].Form.Get("amount"), ownerRefunds(fake)[1].Form.Get("amount")}
		slices.Sort(amounts)
		if !slices.Equal(amounts, []string{"500", "5000"}) {
			t.Errorf("amounts Stripe refunded: %v", amounts)
		}
		refunded := ex
		refunded.Type, refunded.Refunded, refunded.Amount = "charge.refunded", 5500, 7500
		a.process(refunded)
		if p := a.product("print"); p.Stock != 2 {
			t.Errorf("the stock after the refunds: %d, want 2", p.Stock)
		}
		if out, err := a.cli("orders", "show", "order-cli"); err != nil || strings.Count(out, "refunded") < 2 || !strings.Contains(out, "€5.00") {
			t.Errorf("caisse orders show: %v\n%s", err, out)
		}
	})
}

// The order's page shows what is left to refund and a refund form: two of
// three units returned with restock are asked of Stripe once, however
// often the form is sent; a refused form shows the page again, in its
// language, with the reason and what was typed, never a flag of the
// command line; Stripe's event then puts the units back in stock.
func TestRefundFromThePage(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		fake := stripemock.NewFake(t)
		a := setup(t, db, withStripe(fake.URL))
		ex := paidOrder(t, a, fake, "order-page", "print", 3, 3)
		c, _ := signedInClient(t, a)
		status, page := get(t, c, a.url+"/admin/orders/order-page")
		if status != http.StatusOK || !strings.Contains(page, `id="refund"`) || !strings.Contains(page, "€75.00") {
			t.Fatalf("the order page (%d) has no refund form:\n%s", status, page)
		}
		key := regexp.MustCompile(`name="key" value="([0-9a-f]+)"`).FindStringSubmatch(page)
		if key == nil {
			t.Fatalf("the refund form has no key:\n%s", page)
		}
		post := func(lang string, form url.Values) pageAnswer {
			return postPage(t, c, a.url+"/admin/orders/order-page/refund", lang, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		}
		for _, tc := range []struct {
			name   string
			lang   string
			form   url.Values
			status int
			says   string
		}{
			{"more units than bought", "en", url.Values{"key": {key[1]}, "product": {"print"}, "quantity": {"4"}}, http.StatusBadRequest, "3 of print left to refund"},
			{"an amount that is not one", "fr", url.Values{"key": {key[1]}, "amount": {"dix"}}, http.StatusBadRequest, "le montant doit être un montant en EUR"},
			{"over what is left", "en", url.Values{"key": {key[1]}, "amount": {"80"}}, http.StatusBadRequest, "only €75.00 is left to refund"},
			{"nothing", "en", url.Values{"key": {key[1]}}, http.StatusBadRequest, "type the units returned of each line, or an amount"},
		} {
			got := post(tc.lang, tc.form)
			if got.status != tc.status || !strings.HasPrefix(got.kind, "text/html") || !strings.Contains(got.body, `id="problem" role="alert"`) ||
				!strings.Contains(got.body, tc.says) || !strings.Contains(got.body, `<html lang="`+tc.lang+`"`) || !strings.Contains(got.body, `id="refund"`) {
				t.Errorf("%s: %d %s, want %d saying %q:\n%.3000s", tc.name, got.status, got.kind, tc.status, tc.says, got.body)
			}
			if m := cliFlag.FindString(got.body); m != "" {
				t.Errorf("%s names a flag of the command line, %q", tc.name, m)
			}
			if v := tc.form.Get("amount"); v != "" && !strings.Contains(got.body, `value="`+v+`"`) {
				t.Errorf("%s does not keep what was typed", tc.name)
			}
		}
		form := url.Values{"key": {key[1]}, "product": {"print"}, "quantity": {"2"}, "restock": {"1"}, "reason": {"requested_by_customer"}}
		for range 2 {
			got := post("en", form)
			if got.status != http.StatusOK || !strings.Contains(got.body, "Refund asked of Stripe") || !strings.Contains(got.body, `class="refund-requested"`) {
				t.Fatalf("the refund form: %d\n%.3000s", got.status, got.body)
			}
		}
		a.until("Stripe asked", func() bool { return len(ownerRefunds(fake)) == 1 })
		if r := ownerRefunds(fake)[0]; r.Form.Get("amount") != "5000" || r.Form.Get("reason") != "requested_by_customer" {
			t.Errorf("the refund Stripe received: %+v", r.Form)
		}
		refunded := ex
		refunded.Type, refunded.Refunded, refunded.Amount = "charge.refunded", 5000, 7500
		a.process(refunded)
		if o := a.order("order-page"); o.Status != caisse.StatusPartiallyRefunded || len(o.RefundsRequested) != 1 {
			t.Errorf("the order after Stripe's event: %s %+v", o.Status, o.RefundsRequested)
		}
		if p := a.product("print"); p.Stock != 2 {
			t.Errorf("the stock after Stripe's event: %d, want 2", p.Stock)
		}
		if _, page := get(t, c, a.url+"/admin/orders/order-page"); !strings.Contains(page, `class="refund-refunded"`) || !strings.Contains(page, "€25.00") {
			t.Errorf("the order page after the refund:\n%s", page)
		}
		a.until("the deliveries settled", a.drained)
		if n := len(ownerRefunds(fake)); n != 1 {
			t.Errorf("%d refunds asked of Stripe, want 1", n)
		}
	})
}

// A refund Stripe refuses fails at once (asking again would get the same
// no): the order shows it failed with Stripe's words, its amount is free
// to refund again, and the team is told.
func TestRefundRefusedByStripe(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		fake := stripemock.NewFake(t)
		a := setup(t, db, withStripe(fake.URL))
		paidOrder(t, a, fake, "order-refused", "tee", 1, 1)
		fake.FailNext(http.MethodPost, "/v1/refunds", stripemock.Error{Status: http.StatusBadRequest, Code: "charge_disputed",
			Message: "Charge ch_order-refused has been charged back; cannot issue a refund."})
		var ans refundAnswer
		if s := a.admin(http.MethodPost, "/api/admin/orders/order-refused/refund", map[string]any{"amount": 2500}, &ans); s != http.StatusAccepted {
			t.Fatalf("refund: %d %+v", s, ans.Error)
		}
		a.until("the refund failed", func() bool { return a.order("order-refused").RefundsRequested[0].Status == caisse.RefundFailed })
		o := a.order("order-refused")
		if x := o.RefundsRequested[0]; !strings.Contains(x.Error, "charge_disputed") || x.Refund != "" {
			t.Errorf("the failed refund: %+v", x)
		}
		var failed struct{ Data []caisse.Delivery }
		a.admin(http.MethodGet, "/api/admin/outbox?channel=stripe&order=order-refused", nil, &failed)
		if len(failed.Data) != 1 || failed.Data[0].Status != caisse.DeliveryFailed {
			t.Errorf("the request's delivery: %+v", failed.Data)
		}
		// The whole amount may be asked again, under another key.
		if s := a.admin(http.MethodPost, "/api/admin/orders/order-refused/refund", map[string]any{"amount": 2500, "key": "again"}, &ans); s != http.StatusAccepted {
			t.Errorf("asked again: %d %+v", s, ans.Error)
		}
		a.until("Stripe asked again", func() bool { return len(ownerRefunds(fake)) == 2 })
	})
}
