package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// withStripe points caisse at a Stripe API (stripe-mock or a Fake).
func withStripe(apiURL string) func(env map[string]string) {
	return func(env map[string]string) {
		env["STRIPE_SECRET_KEY"] = stripemock.TestKey
		env["STRIPE_API_URL"] = apiURL
		env["CAISSE_RECONCILE_EVERY"] = "0"
		// Every test checkout comes from 127.0.0.1; the limit has a test of its own.
		env["CAISSE_CHECKOUT_RATE"] = "0"
	}
}

type checkoutAnswer struct {
	caisse.Checkout
	Error struct {
		Code     string   `json:"code"`
		Message  string   `json:"message"`
		Products []string `json:"products"`
	} `json:"error"`
}

// checkout posts a checkout request as a shop's page would.
func (a *app) checkout(body any, origin string) (int, checkoutAnswer, http.Header) {
	a.t.Helper()
	var r io.Reader
	if s, ok := body.(string); ok {
		r = strings.NewReader(s)
	} else {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(http.MethodPost, a.url+"/api/checkout", r)
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	var ans checkoutAnswer
	if err := json.NewDecoder(res.Body).Decode(&ans); err != nil {
		a.t.Fatalf("checkout answered %d with no JSON: %v", res.StatusCode, err)
	}
	return res.StatusCode, ans, res.Header
}

func buy(product string, qty int64) caisse.CheckoutRequest {
	return caisse.CheckoutRequest{
		Items:         []caisse.Item{{ProductID: product, Quantity: qty}},
		CustomerEmail: "buyer@example.com",
		SuccessURL:    "https://shop.example/thanks", CancelURL: "https://shop.example/cart",
	}
}

// A hundred buyers ask for the one unique artwork at once, through the real
// stripe-mock: exactly one gets a checkout; when it expires, the next can.
func TestCheckoutSellsAUniqueArtworkOnce(t *testing.T) {
	mock := stripemock.Start(t)
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db, withStripe(mock))
		a.putProduct("art", 1)
		var mu sync.Mutex
		codes := map[int]int{}
		var won checkoutAnswer
		var refused []checkoutAnswer
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A hundred buyers, each at an address of its own: one client's
				// second checkout of the artwork would replace its first.
				status, ans := a.checkoutAs(buy("art", 1), fmt.Sprintf("203.0.113.%d", i+1), "")
				mu.Lock()
				defer mu.Unlock()
				codes[status]++
				if status == http.StatusCreated {
					won = ans
				} else {
					refused = append(refused, ans)
				}
			}()
		}
		wg.Wait()
		if codes[http.StatusCreated] != 1 || codes[http.StatusConflict] != 99 {
			t.Fatalf("answers by status: %v, want one 201 and 99 409", codes)
		}
		for _, r := range refused {
			if r.Error.Code != caisse.ReasonNotAvailable || !slices.Equal(r.Error.Products, []string{"art"}) {
				t.Fatalf("a refused checkout answered %+v", r.Error)
			}
		}
		if !strings.HasPrefix(won.OrderID, "ord_") || !strings.HasPrefix(won.CheckoutSessionID, "cs_") || won.URL == "" ||
			won.ExpiresAt.Before(time.Now().Add(30*time.Minute)) {
			t.Fatalf("the checkout: %+v", won.Checkout)
		}
		if p := a.product("art"); p.Reserved != 1 || p.Available != 0 || p.Stock != 1 {
			t.Fatalf("while the checkout is open: %+v", p)
		}
		o := a.order(won.OrderID)
		if o.Status != caisse.StatusPending || o.CheckoutSession != won.CheckoutSessionID || o.AmountTotal != 2500 ||
			!slices.Equal(o.Items, []caisse.Line{{ProductID: "art", Name: "art", Quantity: 1, UnitAmount: 2500}}) {
			t.Fatalf("the checkout's order: %+v", o)
		}

		a.process(stripe.Example{Type: "checkout.session.expired", OrderID: won.OrderID, ProductID: "art"})
		if p := a.product("art"); p.Reserved != 0 || p.Available != 1 {
			t.Fatalf("after the session expired: %+v", p)
		}
		if status, ans, _ := a.checkout(buy("art", 1), ""); status != http.StatusCreated {
			t.Fatalf("a checkout after the expiry answered %d %+v", status, ans.Error)
		}
	})
}

// The request is checked before anything is reserved, and each refusal
// has its own code.
func TestCheckoutRefusesBadRequests(t *testing.T) {
	mock := stripemock.Start(t)
	a := setup(t, sqliteDB, withStripe(mock))
	a.putProduct("art", 1)
	a.putProduct("print", 5)
	if s := a.admin(http.MethodPut, "/api/admin/products/usd-print", caisse.NewProductUpdate("p", 900, "usd", 3), nil); s != http.StatusOK {
		t.Fatal(s)
	}
	noURL := buy("art", 1)
	noURL.SuccessURL = ""
	badCancel := buy("art", 1)
	badCancel.CancelURL = "javascript:alert(1)"
	badEmail := buy("art", 1)
	badEmail.CustomerEmail = "not an email"
	mixed := buy("art", 1)
	mixed.Items = append(mixed.Items, caisse.Item{ProductID: "usd-print", Quantity: 1})
	tooMany := buy("art", 1)
	tooMany.Items[0].ProductID = "print"
	tooMany.Items[0].Quantity = 6
	both := buy("art", 2)
	both.Items = append(both.Items, caisse.Item{ProductID: "print", Quantity: 9})
	for _, c := range []struct {
		name     string
		body     any
		status   int
		code     string
		products []string
	}{
		{"not json", `{"items": [`, 400, "invalid_json", nil},
		{"unknown field", `{"items":[{"product_id":"art","quantity":1}],"price":1}`, 400, "invalid_json", nil},
		{"no items", caisse.CheckoutRequest{SuccessURL: "https://a.example", CancelURL: "https://a.example"}, 400, caisse.ReasonInvalidItems, nil},
		{"zero quantity", buy("art", 0), 400, caisse.ReasonInvalidItems, []string{"art"}},
		{"negative quantity", buy("art", -1), 400, caisse.ReasonInvalidItems, []string{"art"}},
		{"no success url", noURL, 400, caisse.ReasonInvalidURL, nil},
		{"bad cancel url", badCancel, 400, caisse.ReasonInvalidURL, nil},
		{"bad email", badEmail, 400, caisse.ReasonInvalidEmail, nil},
		{"unknown product", buy("nope", 1), 400, caisse.ReasonUnknownProduct, []string{"nope"}},
		{"two currencies", mixed, 400, caisse.ReasonMixedCurrencies, nil},
		{"more than in stock", tooMany, 409, caisse.ReasonNotAvailable, []string{"print"}},
		{"both short", both, 409, caisse.ReasonNotAvailable, []string{"art", "print"}},
	} {
		status, ans, _ := a.checkout(c.body, "")
		if status != c.status || ans.Error.Code != c.code || !slices.Equal(ans.Error.Products, c.products) || ans.Error.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s %v", c.name, status, ans.Error, c.status, c.code, c.products)
		}
	}
	big := `{"items":[{"product_id":"` + strings.Repeat("a", 70<<10) + `","quantity":1}]}`
	if status, ans, _ := a.checkout(big, ""); status != http.StatusRequestEntityTooLarge || ans.Error.Code != "too_large" {
		t.Errorf("a 70 KiB body: %d %+v", status, ans.Error)
	}
	res, err := http.Get(a.url + "/api/checkout")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/checkout: %d", res.StatusCode)
	}
	for _, id := range []string{"art", "print"} {
		if p := a.product(id); p.Reserved != 0 {
			t.Errorf("a refused checkout left %d units of %s reserved", p.Reserved, id)
		}
	}
	var orders struct{ Data []caisse.Order }
	a.admin(http.MethodGet, "/api/admin/orders", nil, &orders)
	if len(orders.Data) != 0 {
		t.Errorf("refused checkouts left orders: %+v", orders.Data)
	}
}

// When Stripe refuses the session, the units go back and the client gets
// Stripe's code, never Stripe's words (they can quote part of the key or the
// account's setup), which go to the log; without a secret key there is no
// checkout at all.
func TestCheckoutWhenStripeFails(t *testing.T) {
	fake := stripemock.NewFake(t)
	a := setup(t, sqliteDB, withStripe(fake.URL))
	a.putProduct("art", 1)
	fake.FailNext(http.MethodPost, "/v1/checkout/sessions", stripemock.Error{Status: 401, Type: "invalid_request_error",
		Message: "Invalid API Key provided: sk_live_****9876"})
	status, ans, _ := a.checkout(buy("art", 1), "")
	if status != http.StatusBadGateway || ans.Error.Code != "invalid_request_error" || strings.Contains(ans.Error.Message, "API Key") ||
		strings.Contains(ans.Error.Message, "9876") || strings.Contains(ans.Error.Message, stripemock.TestKey) {
		t.Fatalf("Stripe's refusal answered %d %+v: want 502 with Stripe's code and none of its words", status, ans.Error)
	}
	if !strings.Contains(a.logs.String(), "Invalid API Key provided") {
		t.Errorf("Stripe's message is not in the log, where the owner needs it")
	}
	fake.FailNext(http.MethodPost, "/v1/checkout/sessions", stripemock.Error{Status: 400, Code: "url_invalid", Message: "Not a valid URL", Param: "success_url"})
	if status, ans, _ := a.checkout(buy("art", 1), ""); status != http.StatusBadGateway || ans.Error.Code != "url_invalid" {
		t.Fatalf("Stripe's refusal answered %d %+v", status, ans.Error)
	}
	if p := a.product("art"); p.Reserved != 0 || p.Available != 1 {
		t.Fatalf("after Stripe refused: %+v", p)
	}
	var orders struct{ Data []caisse.Order }
	a.admin(http.MethodGet, "/api/admin/orders", nil, &orders)
	if len(orders.Data) != 0 {
		t.Fatalf("the refused checkout left an order: %+v", orders.Data)
	}
	// The next try works, and caisse sent what the session needs.
	status, ans, _ = a.checkout(buy("art", 1), "")
	if status != http.StatusCreated {
		t.Fatalf("second try: %d %+v", status, ans.Error)
	}
	reqs := fake.Requests()
	last := reqs[len(reqs)-1]
	want := map[string]string{
		"client_reference_id": ans.OrderID, "metadata[order_id]": ans.OrderID, "metadata[items]": "art:1",
		"payment_intent_data[metadata][order_id]": ans.OrderID, "mode": "payment", "customer_email": "buyer@example.com",
		"line_items[0][price_data][unit_amount]": "2500", "line_items[0][price_data][currency]": "eur",
		"line_items[0][price_data][product_data][name]": "art", "line_items[0][quantity]": "1",
		"expires_at": fmt.Sprint(ans.ExpiresAt.Unix()),
	}
	for k, v := range want {
		if got := last.Form.Get(k); got != v {
			t.Errorf("session parameter %s = %q, want %q", k, got, v)
		}
	}
	if last.IdempotencyKey != "checkout:"+ans.OrderID {
		t.Errorf("idempotency key %q", last.IdempotencyKey)
	}

	off := setup(t, sqliteDB)
	if status, ans, _ := off.checkout(buy("art", 1), ""); status != http.StatusServiceUnavailable || ans.Error.Code != caisse.ReasonCheckoutOff {
		t.Fatalf("without a secret key: %d %+v", status, ans.Error)
	}
}

// Only the configured origins may call checkout from a browser.
func TestCheckoutCORS(t *testing.T) {
	mock := stripemock.Start(t)
	a := setup(t, sqliteDB, withStripe(mock), func(env map[string]string) {
		env["CAISSE_CORS_ORIGINS"] = "https://shop.example, https://www.shop.example/"
	})
	a.putProduct("print", 10)
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, a.url+"/api/checkout", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res := preflight("https://www.shop.example")
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "https://www.shop.example" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Fatalf("preflight from an allowed origin: %d %v", res.StatusCode, res.Header)
	}
	if res := preflight("https://evil.example"); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin was allowed: %v", res.Header)
	}
	status, _, h := a.checkout(buy("print", 1), "https://shop.example")
	if status != http.StatusCreated || h.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("checkout from an allowed origin: %d %v", status, h)
	}
	if _, _, h := a.checkout(buy("print", 1), "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("checkout from another origin carries CORS headers: %v", h)
	}
}

// With the refund policy, an order paid when no unit was left is refunded
// through Stripe exactly once, however often its event comes, and the
// refund's own event then merges like any other. The Fake stands in for
// Stripe here: the test needs to see every request caisse makes.
func TestOversoldOrderIsRefundedOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		fake := stripemock.NewFake(t)
		a := setup(t, db, withStripe(fake.URL), func(env map[string]string) {
			env["CAISSE_OVERSOLD_POLICY"] = "refund"
		})
		a.putProduct("art", 1)
		fake.AddPaymentIntent("pi_late", 2500, "eur")
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "first", ProductID: "art"})
		late := stripe.Example{Type: "checkout.session.completed", EventID: stripe.NewID("evt"), OrderID: "late", ProductID: "art", PaymentIntent: "pi_late"}
		a.process(late)
		if o := a.order("late"); !o.Oversold || o.Status != caisse.StatusPaid {
			t.Fatalf("the late order: %+v", o)
		}
		refunds := func() []stripemock.Request {
			var out []stripemock.Request
			for _, r := range fake.Requests() {
				if r.Method == http.MethodPost && r.Path == "/v1/refunds" {
					out = append(out, r)
				}
			}
			return out
		}
		a.until("the refund recorded on the order", func() bool { return a.order("late").OversoldRefund != "" })
		// The same event again, twice, and a replay: nothing new to refund.
		payload, _ := stripe.Build(late)
		a.forget(late.EventID)
		a.deliver(payload)
		a.deliver(payload)
		if s := a.admin(http.MethodPost, "/api/admin/events/"+late.EventID+"/replay", nil, nil); s != http.StatusAccepted {
			t.Fatalf("replay: %d", s)
		}
		a.wait(late.EventID)
		got := refunds()
		if len(got) != 1 {
			t.Fatalf("%d refund requests, want 1: %+v", len(got), got)
		}
		r := got[0]
		if r.IdempotencyKey != "refund:oversold:late" || r.Form.Get("payment_intent") != "pi_late" || r.Form.Get("metadata[order_id]") != "late" {
			t.Fatalf("the refund request: key %q, form %v", r.IdempotencyKey, r.Form)
		}
		o := a.order("late")
		if !strings.HasPrefix(o.OversoldRefund, "re_") {
			t.Fatalf("refund not recorded on the order: %+v", o)
		}
		// Stripe's charge.refunded arrives and the order is refunded.
		a.process(stripe.Example{Type: "charge.refunded", OrderID: "late", ProductID: "art", PaymentIntent: "pi_late", Refunded: 2500})
		if o := a.order("late"); o.Status != caisse.StatusRefunded || o.AmountRefunded != 2500 {
			t.Fatalf("after the refund's event: %+v", o)
		}
		if p := a.product("art"); p.Stock != 0 || p.Reserved != 0 {
			t.Fatalf("the first buyer's unit: %+v", p)
		}
		if o := a.order("first"); o.Status != caisse.StatusPaid || o.Oversold {
			t.Fatalf("the first order: %+v", o)
		}
	})
}

// reconcile stores and processes events Stripe never delivered, and a
// second run stores nothing again. The Fake lists them as Stripe's events
// API would.
func TestReconcileCatchesUpMissedEvents(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		fake := stripemock.NewFake(t)
		var ids []string
		for i := range 3 {
			ex := stripe.Example{Type: "checkout.session.completed", EventID: stripe.NewID("evt"), OrderID: fmt.Sprintf("missed-%d", i),
				ProductID: "print", Created: time.Now().Add(-time.Duration(3-i) * time.Hour)}
			raw, err := stripe.Build(ex)
			if err != nil {
				t.Fatal(err)
			}
			fake.AddEvent(raw)
			ids = append(ids, ex.EventID)
		}
		a := setup(t, db, withStripe(fake.URL))
		a.putProduct("print", 10)
		delivered := a.send(stripe.Example{Type: "checkout.session.completed", OrderID: "delivered", ProductID: "print"})
		a.wait(delivered)

		var rep struct{ Found, Stored int }
		out, err := a.cli("reconcile", "--json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Found != 3 || rep.Stored != 3 {
			t.Fatalf("first reconcile printed %s (%v)", out, err)
		}
		a.wait(ids...)
		for i := range 3 {
			if o := a.order(fmt.Sprintf("missed-%d", i)); o.Status != caisse.StatusPaid {
				t.Fatalf("caught-up order: %+v", o)
			}
		}
		out, err = a.cli("reconcile")
		if err != nil {
			t.Fatal(err)
		}
		// It reads again from a little before the newest event it stored.
		if !strings.Contains(out, "found 1 events") || !strings.Contains(out, "stored 0 new") {
			t.Fatalf("second reconcile printed %q", out)
		}
		if n := a.eventCount(); n != 4 {
			t.Fatalf("%d events stored, want 4", n)
		}
		if p := a.product("print"); p.Stock != 6 {
			t.Fatalf("stock after four sales of one: %+v", p)
		}
	})
}

// The periodic catch-up runs by itself when serve has a secret key.
func TestReconcileRunsPeriodically(t *testing.T) {
	fake := stripemock.NewFake(t)
	ex := stripe.Example{Type: "checkout.session.completed", EventID: stripe.NewID("evt"), OrderID: "missed", ProductID: "print"}
	raw, _ := stripe.Build(ex)
	fake.AddEvent(raw)
	a := setup(t, sqliteDB, withStripe(fake.URL), func(env map[string]string) { env["CAISSE_RECONCILE_EVERY"] = "15m" })
	if s := a.wait(ex.EventID)[ex.EventID]; s != caisse.EventProcessed {
		t.Fatalf("caught-up event ended %s", s)
	}
	if !strings.Contains(a.logs.String(), "never delivered") {
		t.Fatalf("no log line for the caught-up event:\n%s", a.logs.String())
	}
}

// serve warns when the account's endpoint for caisse is disabled or missing.
func TestStartupChecksWebhookEndpoints(t *testing.T) {
	fake := stripemock.NewFake(t)
	fake.SetWebhookEndpoints(
		stripemock.WebhookEndpoint{ID: "we_1", URL: "https://shop.example/webhooks/stripe", Status: "disabled", APIVersion: "2024-06-20"},
		stripemock.WebhookEndpoint{ID: "we_2", URL: "https://other.example/hook", Status: "enabled"},
	)
	a := setup(t, sqliteDB, withStripe(fake.URL))
	logs := a.logs.String()
	if !strings.Contains(logs, "webhook endpoint for caisse is disabled") || !strings.Contains(logs, "we_1") || !strings.Contains(logs, "2024-06-20") {
		t.Fatalf("no warning for the disabled endpoint:\n%s", logs)
	}
	fake.SetWebhookEndpoints(stripemock.WebhookEndpoint{ID: "we_3", URL: "https://other.example/hook", Status: "enabled"})
	b := setup(t, sqliteDB, withStripe(fake.URL))
	if !strings.Contains(b.logs.String(), "no webhook endpoint of this Stripe account points at caisse") {
		t.Fatalf("no warning for the missing endpoint:\n%s", b.logs.String())
	}
	fake.SetWebhookEndpoints(stripemock.WebhookEndpoint{ID: "we_4", URL: "https://shop.example/api/webhook", Status: "enabled",
		APIVersion: "2025-01-27.acacia", EnabledEvents: []string{"*"}})
	c := setup(t, sqliteDB, withStripe(fake.URL))
	if l := c.logs.String(); strings.Contains(l, "level\":\"WARN") || !strings.Contains(l, "2025-01-27.acacia") {
		t.Fatalf("an enabled endpoint for caisse: want its version reported and no warning:\n%s", l)
	}
	// An endpoint that sends only some of the types caisse handles: the
	// missing ones are named.
	fake.SetWebhookEndpoints(stripemock.WebhookEndpoint{ID: "we_5", URL: "https://shop.example/webhooks/stripe/", Status: "enabled",
		EnabledEvents: slices.DeleteFunc(slices.Clone(caisse.HandledTypes), func(t string) bool { return strings.HasPrefix(t, "charge.dispute.") })})
	d := setup(t, sqliteDB, withStripe(fake.URL))
	if l := d.logs.String(); !strings.Contains(l, "does not send every type caisse handles") ||
		!strings.Contains(l, "charge.dispute.created,charge.dispute.updated,charge.dispute.closed") {
		t.Fatalf("an endpoint deaf to disputes: want the missing types named:\n%s", l)
	}
}
