package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// build makes an example event and lets edit change its data.object.
func build(t *testing.T, ex stripe.Example, edit func(obj map[string]any)) []byte {
	t.Helper()
	if ex.EventID == "" {
		ex.EventID = stripe.NewID("evt")
	}
	payload, err := stripe.Build(ex)
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return payload
	}
	var ev map[string]any
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	edit(ev["data"].(map[string]any)["object"].(map[string]any))
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// deliverAndWait delivers a payload and waits for its event's final status.
func (a *app) deliverAndWait(payload []byte) caisse.Event {
	a.t.Helper()
	ev, err := stripe.DecodeEvent(payload)
	if err != nil {
		a.t.Fatal(err)
	}
	a.deliver(payload)
	a.wait(ev.ID)
	return a.event(ev.ID)
}

func (a *app) putPrice(id string, price int64, stock int64) {
	a.t.Helper()
	if s := a.admin(http.MethodPut, "/api/admin/products/"+id, caisse.NewProductUpdate(id, price, "eur", stock), nil); s != http.StatusOK {
		a.t.Fatalf("PUT product %s: %d", id, s)
	}
}

func (a *app) orderIDs(query string) []string {
	a.t.Helper()
	var l struct{ Data []caisse.Order }
	if s := a.admin(http.MethodGet, "/api/admin/orders"+query, nil, &l); s != http.StatusOK {
		a.t.Fatalf("GET /api/admin/orders%s: %d", query, s)
	}
	var ids []string
	for _, o := range l.Data {
		ids = append(ids, o.ID)
	}
	return ids
}

func refundRequests(fake *stripemock.Fake) []stripemock.Request {
	var out []stripemock.Request
	for _, r := range fake.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/refunds" {
			out = append(out, r)
		}
	}
	return out
}

// A buyer reserves a 5,000.00 € artwork, then pays 1.00 € through another
// session (a Payment Link where anyone can type an order id): the order is
// not paid, keeps its reservation, is flagged payment_mismatch with an
// alert, and by policy the cheap payment is refunded, once. A payment in
// another currency is a mismatch too. The real payment then pays the order.
func TestCheapPaymentNeverPaysAnExpensiveOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		fake := stripemock.NewFake(t)
		r := startReceivers(t, smtptest.Options{})
		a := setup(t, db, withStripe(fake.URL), r.env, func(env map[string]string) { env["CAISSE_MISMATCH_POLICY"] = "refund" })
		a.putPrice("art", 500000, 1)
		status, ans, _ := a.checkout(buy("art", 1), "")
		if status != http.StatusCreated {
			t.Fatalf("checkout: %d %+v", status, ans.Error)
		}
		order := ans.OrderID
		fake.AddPaymentIntent("pi_cheap", 100, "eur")
		fake.AddPaymentIntent("pi_usd", 600000, "usd")
		cheap := build(t, stripe.Example{Type: "checkout.session.completed", OrderID: order, ProductID: "sticker",
			Session: "cs_test_cheap", PaymentIntent: "pi_cheap", Amount: 100, Currency: "eur", Email: "cheap@example.com"}, nil)
		if ev := a.deliverAndWait(cheap); ev.Status != caisse.EventProcessed {
			t.Fatalf("the cheap payment's event: %+v", ev)
		}
		o := a.order(order)
		if o.Status != caisse.StatusPending || o.AmountPaid != 0 || o.AmountDue != 500000 || o.Currency != "eur" ||
			!o.PaymentMismatch || !slices.Equal(o.MismatchedPayments, []string{"cs_test_cheap"}) ||
			!slices.Equal(o.Items, []caisse.Line{{ProductID: "art", Name: "art", Quantity: 1, UnitAmount: 500000}}) {
			t.Fatalf("after a 1.00 € payment for a 5,000.00 € order: %+v", o)
		}
		if p := a.product("art"); p.Stock != 1 || p.Reserved != 1 {
			t.Fatalf("the artwork must stay reserved, not sold: %+v", p)
		}
		if alerts := a.deliveriesOf("channel=alert&order=" + order); len(alerts) != 1 || alerts[0].Topic != caisse.TopicPaymentMismatch {
			t.Fatalf("alerts about the order: %+v, want one payment mismatch alert", alerts)
		}
		if ids := a.orderIDs("?status=payment_mismatch"); !slices.Equal(ids, []string{order}) {
			t.Fatalf("orders flagged payment_mismatch: %v", ids)
		}
		if ids := a.orderIDs("?status=paid"); len(ids) != 0 {
			t.Fatalf("paid orders: %v", ids)
		}

		// By policy the cheap payment is refunded, once, however often its
		// event comes.
		a.until("the refund recorded on the order", func() bool { return len(a.order(order).MismatchRefunds) > 0 })
		ev, _ := stripe.DecodeEvent(cheap)
		a.forget(ev.ID)
		a.deliver(cheap)
		if s := a.admin(http.MethodPost, "/api/admin/events/"+ev.ID+"/replay", nil, nil); s != http.StatusAccepted {
			t.Fatalf("replay: %d", s)
		}
		a.wait(ev.ID)
		refunds := refundRequests(fake)
		if len(refunds) != 1 || refunds[0].Form.Get("payment_intent") != "pi_cheap" || refunds[0].IdempotencyKey != "refund:mismatch:pi_cheap" ||
			refunds[0].Form.Get("metadata[order_id]") != order {
			t.Fatalf("refund requests: %+v", refunds)
		}

		// A payment of the right number in another currency pays nothing
		// either, and never changes the order's currency.
		usd := build(t, stripe.Example{Type: "checkout.session.completed", OrderID: order, ProductID: "art",
			Session: "cs_test_usd", PaymentIntent: "pi_usd", Amount: 600000, Currency: "usd", Email: "dollar@example.com"}, nil)
		a.deliverAndWait(usd)
		if o := a.order(order); o.Status != caisse.StatusPending || o.Currency != "eur" || !slices.Contains(o.MismatchedPayments, "cs_test_usd") {
			t.Fatalf("after a payment in dollars: %+v", o)
		}

		// The buyer pays the real session: the order is paid, the artwork
		// sold, and the flag stays so the owner sees what happened.
		a.deliverAndWait(build(t, stripe.Example{Type: "checkout.session.completed", OrderID: order, ProductID: "art",
			Session: ans.CheckoutSessionID, PaymentIntent: "pi_real", Amount: 500000, Currency: "eur"}, nil))
		if o := a.order(order); o.Status != caisse.StatusPaid || o.AmountPaid != 500000 || !o.PaymentMismatch {
			t.Fatalf("after the real payment: %+v", o)
		}
		// The buyer of the cheap payment got an apology for its refund; the
		// order, flagged, is never confirmed to anyone.
		a.until("the emails sent", a.drained)
		var topics []string
		for _, d := range a.deliveriesOf("channel=email&order=" + order) {
			topics = append(topics, d.Topic+" to "+d.Recipient)
		}
		slices.Sort(topics)
		if fmt.Sprint(topics) != "[refund_apology to cheap@example.com refund_apology to dollar@example.com]" {
			t.Fatalf("emails about the order: %v, want only an apology to whoever made each refunded payment", topics)
		}
		if p := a.product("art"); p.Stock != 0 || p.Reserved != 0 {
			t.Fatalf("the artwork after its sale: %+v", p)
		}

		// A stranger's payment with no address of its own: refunded, and
		// its apology goes to nobody, never to the order's real customer.
		fake.AddPaymentIntent("pi_anon", 100, "eur")
		a.deliverAndWait(build(t, stripe.Example{Type: "payment_intent.succeeded", OrderID: order, ProductID: "art",
			PaymentIntent: "pi_anon", Amount: 100, Currency: "eur"}, func(obj map[string]any) { obj["receipt_email"] = nil }))
		a.until("the anonymous payment's apology settled", func() bool {
			for _, d := range a.deliveriesOf("channel=email&order=" + order) {
				if d.Topic == caisse.TopicRefundApology && d.Status == caisse.DeliverySkipped {
					return strings.Contains(d.LastError, "never told of a payment that may not be theirs")
				}
			}
			return false
		})
		a.until("the emails sent", a.drained)
		for _, m := range r.mail.Messages() {
			if slices.Contains(m.To, a.order(order).CustomerEmail) {
				t.Errorf("the order's customer %s was emailed about a payment that was not theirs", m.To)
			}
		}
	})
}

// Without a refund policy the mismatch is flagged and alerted, nothing is
// asked of Stripe; an order defined by its own session (no caisse checkout)
// is due what that first session asked, so a later, cheaper session with its
// id does not pay it, while a new session for the same amount after the
// first expired does.
func TestAmountDueOfAnOrderDefinedByItsSession(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		fake := stripemock.NewFake(t)
		a := setup(t, db, withStripe(fake.URL))
		a.putPrice("print-1", 90000, 1)
		first := time.Now().Add(-time.Hour)
		a.process(stripe.Example{Type: "checkout.session.expired", OrderID: "o1", ProductID: "print-1", Amount: 90000,
			Session: "cs_test_first", Created: first})
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "sticker", Amount: 500,
			Session: "cs_test_cheap", PaymentIntent: "pi_cheap", Created: first.Add(10 * time.Minute)})
		o := a.order("o1")
		if o.Status != caisse.StatusExpired || !o.PaymentMismatch || o.AmountDue != 90000 || o.AmountPaid != 0 ||
			!slices.Equal(o.Items, []caisse.Line{{ProductID: "print-1", Name: "print-1", Quantity: 1, UnitAmount: 90000}}) {
			t.Fatalf("after a cheap session for an order of 900.00 €: %+v", o)
		}
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print-1", Amount: 90000,
			Session: "cs_test_second", PaymentIntent: "pi_second", Created: first.Add(20 * time.Minute)})
		if o := a.order("o1"); o.Status != caisse.StatusPaid || o.AmountPaid != 90000 || o.CheckoutSession != "cs_test_first" {
			t.Fatalf("after a second session for the whole amount: %+v", o)
		}
		if p := a.product("print-1"); p.Stock != 0 {
			t.Fatalf("print-1 after its sale: %+v", p)
		}
		if r := refundRequests(fake); len(r) != 0 {
			t.Fatalf("the flag policy asked Stripe for refunds: %+v", r)
		}
	})
}

// A session converted by Adaptive Pricing counts in the shop's currency and
// amount (its currency_conversion); its payment intent, in the buyer's
// currency, is the same payment and flags nothing.
func TestAdaptivePricingPaysInTheShopsCurrency(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		fake := stripemock.NewFake(t)
		a := setup(t, db, withStripe(fake.URL))
		a.putPrice("art", 500000, 1)
		status, ans, _ := a.checkout(buy("art", 1), "")
		if status != http.StatusCreated {
			t.Fatalf("checkout: %d %+v", status, ans.Error)
		}
		a.deliverAndWait(build(t, stripe.Example{Type: "payment_intent.succeeded", OrderID: ans.OrderID, ProductID: "art",
			PaymentIntent: "pi_fx", Amount: 540000, Currency: "usd"}, nil))
		if o := a.order(ans.OrderID); o.Status != caisse.StatusPending || o.PaymentMismatch {
			t.Fatalf("a payment intent in the buyer's currency alone: %+v", o)
		}
		a.deliverAndWait(build(t, stripe.Example{Type: "checkout.session.completed", OrderID: ans.OrderID, ProductID: "art",
			Session: ans.CheckoutSessionID, PaymentIntent: "pi_fx", Amount: 540000, Currency: "usd"},
			func(obj map[string]any) {
				obj["currency_conversion"] = map[string]any{"amount_subtotal": 500000, "amount_total": 500000, "fx_rate": "1.08", "source_currency": "eur"}
			}))
		o := a.order(ans.OrderID)
		if o.Status != caisse.StatusPaid || o.AmountPaid != 500000 || o.Currency != "eur" || o.PaymentMismatch {
			t.Fatalf("after the converted session: %+v", o)
		}
	})
}

// Test and live never mix: an order belongs to one mode, and a payment of the
// other never counts for it, whatever order the events arrive in; the event
// is stored and marked ignored with the reason. An event of a connected
// account never touches the shop's orders.
func TestModesAndAccountsNeverMix(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		run := func(testFirst bool) (caisse.Order, caisse.Event) {
			a := setup(t, db)
			a.putPrice("print-1", 90000, 1)
			live := build(t, stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print-1", Amount: 90000,
				Livemode: true, Unpaid: true, Session: "cs_live_1", PaymentIntent: "pi_live_1"}, nil)
			test := build(t, stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print-1", Amount: 90000,
				Session: "cs_test_1", PaymentIntent: "pi_test_1"}, nil)
			first, second := live, test
			if testFirst {
				first, second = test, live
			}
			a.deliverAndWait(first)
			a.deliverAndWait(second)
			if p := a.product("print-1"); p.Stock != 1 || p.Reserved != 1 {
				t.Errorf("print-1 (test first: %t): %+v", testFirst, p)
			}
			testEv, _ := stripe.DecodeEvent(test)
			return a.order("o1"), a.event(testEv.ID)
		}
		liveFirst, testEv := run(false)
		if liveFirst.Status != caisse.StatusAwaitingPayment || !liveFirst.Livemode || liveFirst.AmountPaid != 0 || liveFirst.PaymentMismatch {
			t.Fatalf("a live order after a test-mode payment: %+v", liveFirst)
		}
		if testEv.Status != caisse.EventIgnored || !strings.Contains(testEv.LastError, "test-mode event for live-mode order o1") {
			t.Fatalf("the test-mode event: %+v", testEv)
		}
		testFirst, _ := run(true)
		if testFirst.Status != liveFirst.Status || testFirst.Livemode != liveFirst.Livemode || testFirst.AmountPaid != liveFirst.AmountPaid ||
			testFirst.CheckoutSession != liveFirst.CheckoutSession {
			t.Fatalf("the order depends on the events' order:\n%+v\n%+v", testFirst, liveFirst)
		}

		a := setup(t, db)
		connected := build(t, stripe.Example{Type: "checkout.session.completed", OrderID: "o2", ProductID: "print-1"}, nil)
		var ev map[string]any
		json.Unmarshal(connected, &ev)
		ev["account"] = "acct_1Connected"
		connected, _ = json.Marshal(ev)
		got := a.deliverAndWait(connected)
		if got.Status != caisse.EventIgnored || !strings.Contains(got.LastError, "acct_1Connected") {
			t.Fatalf("a connected account's event: %+v", got)
		}
		if s := a.admin(http.MethodGet, "/api/admin/orders/o2", nil, nil); s != http.StatusNotFound {
			t.Fatalf("a connected account's event made an order: %d", s)
		}
	})
}

// A signed event whose numbers or object make no sense is a dead letter at
// its first attempt, with a reason a person can act on, and nothing of it is
// applied: huge or negative refunds cannot wrap a sum and turn a refunded
// order back to paid, and a session event carrying a charge cannot change
// what caisse knows of the charge.
func TestSignedNonsenseIsADeadLetter(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putPrice("print-1", 1000, 1)
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print-1", Amount: 1000},
			stripe.Example{Type: "charge.refunded", OrderID: "o1", ProductID: "print-1", Amount: 1000, Refunded: 1000})
		if o, p := a.order("o1"), a.product("print-1"); o.Status != caisse.StatusRefunded || p.Stock != 1 {
			t.Fatalf("before: %+v %+v", o, p)
		}
		charge := func(id string, amount, refunded any) []byte {
			return build(t, stripe.Example{Type: "charge.refunded", OrderID: "o1", Charge: id}, func(obj map[string]any) {
				obj["amount"], obj["amount_refunded"] = amount, refunded
			})
		}
		for _, tc := range []struct {
			name    string
			payload []byte
			reason  string
		}{
			{"refund of 2^63-1", charge("ch_huge1", int64(math.MaxInt64), int64(math.MaxInt64)), "amount is 9223372036854775807"},
			{"another refund of 2^63-1", charge("ch_huge2", int64(math.MaxInt64), int64(math.MaxInt64)), "amount is 9223372036854775807"},
			{"negative refund", charge("ch_neg", 1000, -1000), "amount_refunded is -1000"},
			{"a session event carrying a charge", build(t, stripe.Example{Type: "checkout.session.expired", OrderID: "o1"},
				func(obj map[string]any) {
					for k := range obj {
						delete(obj, k)
					}
					obj["id"], obj["object"], obj["amount"], obj["amount_refunded"], obj["currency"] = "ch_o1", "charge", 1000, 0, "eur"
				}), `data.object is a "charge"`},
			{"a session event naming a charge's id", build(t, stripe.Example{Type: "checkout.session.expired", OrderID: "o1", Session: "ch_o1"}, nil),
				"caisse knows it as a charge"},
			{"a NUL in the order id", build(t, stripe.Example{Type: "checkout.session.completed", OrderID: "o\x001", Session: "cs_nul"}, nil),
				"client_reference_id is not an order id"},
		} {
			ev := a.deliverAndWait(tc.payload)
			if ev.Status != caisse.EventFailed || ev.Attempts != 1 || !strings.Contains(ev.LastError, tc.reason) || !strings.Contains(ev.LastError, "applies nothing") {
				t.Errorf("%s: %+v; want a dead letter at once whose error says %q", tc.name, ev, tc.reason)
			}
		}
		if o, p := a.order("o1"), a.product("print-1"); o.Status != caisse.StatusRefunded || o.AmountRefunded != 1000 || p.Stock != 1 {
			t.Fatalf("signed nonsense changed the order or the stock: %+v %+v", o, p)
		}
		var failed struct{ Data []caisse.Event }
		a.admin(http.MethodGet, "/api/admin/events?status=failed", nil, &failed)
		if len(failed.Data) != 6 {
			t.Fatalf("%d dead letters, want 6", len(failed.Data))
		}
	})
}

// A huge item list is merged and bounded, never a reason to lose the order:
// one over the bound is recorded and flagged with items_error.
func TestHugeItemListsAreRecorded(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		many := func(products, repeat int) string {
			var parts []string
			for range repeat {
				for i := range products {
					parts = append(parts, "p"+strings.Repeat("x", i%3)+"-"+strconv.Itoa(i)+":1")
				}
			}
			return strings.Join(parts, ",")
		}
		for _, tc := range []struct {
			order, items string
			wantItems    int
			wantErr      bool
		}{
			{"o_flood", many(40000, 1), 0, true},
			{"o_merged", many(100, 400), 100, false},
		} {
			ev := a.deliverAndWait(build(t, stripe.Example{Type: "checkout.session.completed", OrderID: tc.order, Session: "cs_" + tc.order},
				func(obj map[string]any) { obj["metadata"].(map[string]any)["items"] = tc.items }))
			if ev.Status != caisse.EventProcessed {
				t.Fatalf("%s: the event %+v", tc.order, ev)
			}
			o := a.order(tc.order)
			if o.Status != caisse.StatusPaid || len(o.Items) != tc.wantItems || (o.ItemsError != "") != tc.wantErr {
				t.Fatalf("%s: %d items, items_error %q, status %s", tc.order, len(o.Items), o.ItemsError, o.Status)
			}
			if tc.wantItems > 0 && o.Items[0].Quantity != 400 {
				t.Fatalf("%s: the same product named 400 times holds %d units", tc.order, o.Items[0].Quantity)
			}
		}
	})
}

// Importing the catalogue again never puts sold units back on sale: the
// stock of a product that exists is kept unless --set-stock says to set it,
// and the command says what it changed. PUT keeps what it leaves out.
func TestReimportNeverResells(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		file := t.TempDir() + "/products.json"
		if err := os.WriteFile(file, []byte(`[{"id":"print-1","name":"Print #1","price":90000,"currency":"eur","stock":1}]`), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := a.cli("products", "import", file)
		if err != nil || !strings.Contains(out, "new: Print #1, price 900.00 EUR, stock 1") {
			t.Fatalf("first import: %v\n%s", err, out)
		}
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print-1", Amount: 90000})
		out, err = a.cli("products", "import", file)
		if err != nil || !strings.Contains(out, "stock kept at 0 (the file says 1; --set-stock sets it)") {
			t.Fatalf("second import: %v\n%s", err, out)
		}
		if p := a.product("print-1"); p.Stock != 0 {
			t.Fatalf("re-importing put the sold unit back: %+v", p)
		}
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o2", ProductID: "print-1", Amount: 90000})
		if o := a.order("o2"); !o.Oversold {
			t.Fatalf("the second buyer of the unique print: %+v", o)
		}

		// PUT with only a price keeps the stock; PUT with stock sets it.
		var p caisse.Product
		if s := a.admin(http.MethodPut, "/api/admin/products/print-1", map[string]any{"price": 95000}, &p); s != http.StatusOK ||
			p.Stock != 0 || p.Price != 95000 || p.Name != "Print #1" || p.Currency != "eur" {
			t.Fatalf("PUT price: %d %+v", s, p)
		}
		// An explicit restock, through the import.
		out, err = a.cli("products", "import", "--set-stock", file)
		if err != nil || !strings.Contains(out, "price 950.00 EUR → 900.00 EUR; stock 0 → 1") {
			t.Fatalf("import --set-stock: %v\n%s", err, out)
		}
		if p := a.product("print-1"); p.Stock != 1 {
			t.Fatalf("after --set-stock: %+v", p)
		}
		dup := t.TempDir() + "/dup.csv"
		os.WriteFile(dup, []byte("id,name,price,currency,stock\na,A,100,eur,1\na,A again,100,eur,5\n"), 0o600)
		if _, err := a.cli("products", "import", dup); err == nil || !strings.Contains(err.Error(), "each id may appear once") {
			t.Fatalf("a file with the same id twice: %v", err)
		}
	})
}

// Checkout bounds: a quantity no shop sells is a 400 before Stripe is asked;
// a client that opens too many checkouts gets 429; the customer is only ever
// sent back to the shop's own pages.
func TestCheckoutBounds(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) { testCheckoutBounds(t, db) })
}

func testCheckoutBounds(t *testing.T, db testDB) {
	fake := stripemock.NewFake(t)
	a := setup(t, db, withStripe(fake.URL), func(env map[string]string) {
		env["CAISSE_CHECKOUT_RATE"] = "3/1h"
		env["CAISSE_CORS_ORIGINS"] = "https://shop.example"
	})
	a.putPrice("tee", 2500, 100)
	sessions := func() int {
		n := 0
		for _, r := range fake.Requests() {
			if r.Path == "/v1/checkout/sessions" {
				n++
			}
		}
		return n
	}
	post := func(body any, forwardedFor string) (int, checkoutAnswer, http.Header) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, a.url+"/api/checkout", strings.NewReader(string(b)))
		req.Header.Set("X-Forwarded-For", forwardedFor)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var ans checkoutAnswer
		json.NewDecoder(res.Body).Decode(&ans)
		return res.StatusCode, ans, res.Header
	}
	for _, tc := range []struct {
		name   string
		req    caisse.CheckoutRequest
		status int
		code   string
	}{
		{"a quantity of 2^63-1", buy("tee", math.MaxInt64), 400, "invalid_items"},
		{"more units than one checkout holds", buy("tee", 21), 400, "invalid_items"},
		{"a return page on another site", func() caisse.CheckoutRequest {
			r := buy("tee", 1)
			r.SuccessURL = "https://evil.example/thanks"
			return r
		}(), 400, "invalid_url"},
	} {
		status, ans, _ := post(tc.req, "203.0.113.1")
		if status != tc.status || ans.Error.Code != tc.code {
			t.Errorf("%s: %d %+v, want %d %s", tc.name, status, ans.Error, tc.status, tc.code)
		}
	}
	if n := sessions(); n != 0 {
		t.Fatalf("refused checkouts reached Stripe %d times", n)
	}
	if p := a.product("tee"); p.Reserved != 0 {
		t.Fatalf("refused checkouts reserved units: %+v", p)
	}
	// That client spent its three; another client behind the same proxy
	// still opens checkouts, up to three.
	status, ans, h := post(buy("tee", 1), "203.0.113.1")
	if status != http.StatusTooManyRequests || ans.Error.Code != caisse.ReasonRateLimited || h.Get("Retry-After") == "" {
		t.Fatalf("a fourth checkout from one client: %d %+v %v", status, ans.Error, h)
	}
	for i := range 3 {
		if status, ans, _ := post(buy("tee", 1), "198.51.100.7"); status != http.StatusCreated {
			t.Fatalf("checkout %d of another client: %d %+v", i+1, status, ans.Error)
		}
	}
	if status, _, _ := post(buy("tee", 1), "198.51.100.7"); status != http.StatusTooManyRequests {
		t.Fatalf("that client's fourth: %d", status)
	}
	if p := a.product("tee"); p.Reserved != 3 {
		t.Fatalf("reserved %d units, want 3", p.Reserved)
	}
}
