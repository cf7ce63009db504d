package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// shippingShapes are where Checkout Sessions carry the shipping address on
// each API version: top-level shipping_details until 2025-03-31, then
// collected_information.shipping_details.
var shippingShapes = []struct {
	version   string
	collected bool
}{
	{"2023-10-16", false},
	{"2024-06-20", false},
	{"2025-03-31.basil", true},
	{"2025-09-30.clover", true},
}

// shippedEvents are the events of one order paid through Checkout with a
// shipping address collected, as Stripe sends them on an API version: the
// session (address, phone, shipping rate, tax, discount) and its payment
// intent (the address again, as Checkout copies it, without the phone).
func shippedEvents(t *testing.T, order, version string, collected bool) map[string][]byte {
	t.Helper()
	address := map[string]any{"line1": "12 rue des Lilas", "line2": "Bât. B", "postal_code": "69003", "city": "Lyon", "state": nil, "country": "FR"}
	ex := stripe.Example{OrderID: order, ProductID: "print-1", Amount: 9000 + 1500 + 1800 - 500, Email: "camille@example.com", APIVersion: version}
	out := map[string][]byte{}
	for _, typ := range []string{"payment_intent.created", "payment_intent.succeeded", "charge.succeeded", "checkout.session.completed"} {
		e := ex
		e.Type = typ
		out[typ] = build(t, e, func(obj map[string]any) {
			switch typ {
			case "checkout.session.completed":
				obj["customer_details"] = map[string]any{"address": address, "email": "camille@example.com", "name": "Camille Martin",
					"phone": "+33 6 12 34 56 78", "tax_exempt": "none", "tax_ids": []any{}}
				details := map[string]any{"address": address, "name": "Camille Martin"}
				if collected {
					obj["collected_information"] = map[string]any{"business_name": nil, "individual_name": nil, "shipping_details": details}
				} else {
					obj["shipping_details"] = details
				}
				obj["shipping_address_collection"] = map[string]any{"allowed_countries": []string{"FR", "BE"}}
				obj["shipping_cost"] = map[string]any{"amount_subtotal": 1500, "amount_tax": 0, "amount_total": 1500, "shipping_rate": "shr_colissimo"}
				obj["total_details"] = map[string]any{"amount_discount": 500, "amount_shipping": 1500, "amount_tax": 1800}
			case "payment_intent.created", "payment_intent.succeeded":
				obj["shipping"] = map[string]any{"address": address, "carrier": nil, "name": "Camille Martin", "phone": nil, "tracking_number": nil}
				if typ == "payment_intent.created" {
					obj["status"], obj["amount_received"] = "requires_payment_method", 0
				}
			}
		})
	}
	return out
}

// The gallery sees who bought and where the work goes, whatever the API
// version and whatever order Stripe's events come in: for each of four API
// versions, every one of the 24 orderings of the payment intent's two
// events, the charge's and the session's gives the same customer, address
// (with the phone the buyer gave) and shipping, tax and discount on the
// order, in its JSON, in `caisse orders show` and on its page, as an
// address label.
func TestShippingWhateverTheVersionAndOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		if s := a.admin(http.MethodPut, "/api/admin/products/print-1", caisse.NewProductUpdate("Moonrise", 9000, "eur", 1000), nil); s != http.StatusOK {
			t.Fatalf("PUT print-1: %d", s)
		}
		types := []string{"payment_intent.created", "payment_intent.succeeded", "charge.succeeded", "checkout.session.completed"}
		var ids []string
		var orders []string
		for _, shape := range shippingShapes {
			for i, perm := range permutations(len(types)) {
				order := fmt.Sprintf("o_ship_%s_%02d", strings.Split(shape.version, ".")[0], i)
				orders = append(orders, order)
				events := shippedEvents(t, order, shape.version, shape.collected)
				for _, k := range perm {
					a.deliver(events[types[k]])
					ev, _ := stripe.DecodeEvent(events[types[k]])
					ids = append(ids, ev.ID)
				}
			}
		}
		for id, status := range a.wait(ids...) {
			if status == caisse.EventFailed {
				t.Fatalf("event %s failed", id)
			}
		}
		want := caisse.Shipping{Name: "Camille Martin", Phone: "+33 6 12 34 56 78",
			Address: caisse.Address{Line1: "12 rue des Lilas", Line2: "Bât. B", PostalCode: "69003", City: "Lyon", Country: "FR"}}
		for _, id := range orders {
			o := a.order(id)
			if o.Shipping == nil || *o.Shipping != want || o.AmountShipping != 1500 || o.AmountTax != 1800 || o.AmountDiscount != 500 ||
				o.Customer.Name != "Camille Martin" || o.Customer.Phone != "+33 6 12 34 56 78" || o.Status != caisse.StatusPaid {
				t.Errorf("order %s: %s, shipping %+v, shipping %d tax %d discount %d, customer %+v; want paid to %+v, 1500, 1800, 500",
					id, o.Status, o.Shipping, o.AmountShipping, o.AmountTax, o.AmountDiscount, o.Customer, want)
			}
		}

		out, err := a.cli("orders", "show", orders[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range []string{"ship to", "Camille Martin, 12 rue des Lilas, Bât. B, 69003 Lyon, FR, +33 6 12 34 56 78",
			"€15.00", "€18.00", "€5.00"} {
			if !strings.Contains(out, line) {
				t.Errorf("caisse orders show %s does not say %q:\n%s", orders[0], line, out)
			}
		}

		c, _ := signedInClient(t, a)
		status, page := getIn(t, c, a.url+"/admin/orders/"+orders[0], "fr")
		if status != http.StatusOK {
			t.Fatalf("the order's page: %d", status)
		}
		wants(t, "the order's page", page, []string{`<address class="label">Camille Martin<br>12 rue des Lilas<br>Bât. B<br>69003 Lyon<br>FR<br>Téléphone &#43;33 6 12 34 56 78</address>`,
			"Livrer à", "Livraison", caisse.FormatMoney(1500, "eur", "fr"), "Taxes", caisse.FormatMoney(1800, "eur", "fr"), "Remise", caisse.FormatMoney(500, "eur", "fr")})
	})
}

// withShipping makes caisse's checkout ask for a shipping address in
// France and Belgium, offer one rate and ask for a phone number.
func withShipping(env map[string]string) {
	env["CAISSE_SHIPPING_COUNTRIES"] = "fr, BE"
	env["CAISSE_SHIPPING_RATES"] = "shr_colissimo"
	env["CAISSE_COLLECT_PHONE"] = "true"
}

// caisse's checkout asks Stripe for the shipping address, the rates and the
// phone number the configuration names: the real stripe-mock accepts the
// session (its parameters are Stripe's), and the Fake shows exactly what
// was sent. Without the settings, none of it is sent.
func TestCheckoutAsksForShipping(t *testing.T) {
	t.Parallel()
	mock := stripemock.Start(t)
	a := setup(t, sqliteDB, withStripe(mock), withShipping)
	a.putProduct("art", 1)
	if status, ans, _ := a.checkout(buy("art", 1), ""); status != http.StatusCreated {
		t.Fatalf("stripe-mock refused the checkout with shipping: %d %+v", status, ans.Error)
	}

	fake := stripemock.NewFake(t)
	fake.AddShippingRate("shr_colissimo", true)
	a = setup(t, sqliteDB, withStripe(fake.URL), withShipping)
	a.putProduct("art", 1)
	if status, ans, _ := a.checkout(buy("art", 1), ""); status != http.StatusCreated {
		t.Fatalf("checkout: %d %+v", status, ans.Error)
	}
	reqs := fake.Requests()
	form := reqs[len(reqs)-1].Form
	for k, v := range map[string]string{
		"shipping_address_collection[allowed_countries][0]": "FR",
		"shipping_address_collection[allowed_countries][1]": "BE",
		"shipping_options[0][shipping_rate]":                "shr_colissimo",
		"phone_number_collection[enabled]":                  "true",
	} {
		if got := form.Get(k); got != v {
			t.Errorf("session parameter %s = %q, want %q", k, got, v)
		}
	}

	plain := stripemock.NewFake(t)
	a = setup(t, sqliteDB, withStripe(plain.URL))
	a.putProduct("art", 1)
	if status, ans, _ := a.checkout(buy("art", 1), ""); status != http.StatusCreated {
		t.Fatalf("checkout: %d %+v", status, ans.Error)
	}
	reqs = plain.Requests()
	for k := range reqs[len(reqs)-1].Form {
		if strings.HasPrefix(k, "shipping") || strings.HasPrefix(k, "phone") {
			t.Errorf("without the settings, the session asks for %s", k)
		}
	}
}

// shippedEmails are the order_shipped emails the mail server received for
// an order, oldest first.
func shippedEmails(t *testing.T, r *receivers, order string) []smtptest.Email {
	t.Helper()
	var out []smtptest.Email
	for _, m := range r.mail.Messages() {
		e := smtptest.ParseEmail(t, m.Data)
		if strings.Contains(e.Subject, order) && (strings.Contains(e.Subject, "on its way") || strings.Contains(e.Subject, "tracking")) {
			e.Header["X-Test-To"] = m.To
			out = append(out, e)
		}
	}
	return out
}

// The gallery ships a paid painting: it is on the dashboard's list to ship
// and `orders list --to-ship` with its address until then; recording the
// carrier and tracking tells the buyer once (a link to follow it), the
// shop's endpoint gets order.shipped, and Stripe gets the address, carrier
// and tracking on the payment intent. Recording the same again changes
// nothing; other details replace them and the buyer gets one correction.
// An order that is not paid, or refunded in full, cannot ship (409 with the
// reason), and neither the API nor the page nor the CLI takes a shipment
// without a carrier and tracking number.
func TestShipAnOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		fake := stripemock.NewFake(t)
		a := setup(t, db, r.env, withStripe(fake.URL), func(env map[string]string) { env[testClock] = "" })
		if s := a.admin(http.MethodPut, "/api/admin/products/print-1", caisse.NewProductUpdate("Moonrise", 9000, "eur", 10), nil); s != http.StatusOK {
			t.Fatalf("PUT print-1: %d", s)
		}
		for _, order := range []string{"o_first", "o_ship"} {
			fake.AddPaymentIntent("pi_"+order, 11800, "eur")
			events := shippedEvents(t, order, "2025-09-30.clover", true)
			a.deliverAndWait(events["checkout.session.completed"])
			a.deliverAndWait(events["payment_intent.succeeded"])
		}
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o_unpaid", ProductID: "print-1", Amount: 9000, Unpaid: true})

		var toShip struct{ Data []caisse.Order }
		if s := a.admin(http.MethodGet, "/api/admin/orders?status=to_ship", nil, &toShip); s != http.StatusOK || len(toShip.Data) != 2 ||
			toShip.Data[0].ID != "o_first" || toShip.Data[1].ID != "o_ship" {
			t.Fatalf("orders to ship: %d %+v, want o_first then o_ship", s, toShip.Data)
		}
		out, err := a.cli("orders", "list", "--to-ship")
		if err != nil || !strings.Contains(out, "o_ship") || !strings.Contains(out, "Camille Martin, 12 rue des Lilas, Bât. B, 69003 Lyon, FR") || strings.Contains(out, "o_unpaid") {
			t.Fatalf("caisse orders list --to-ship: %v\n%s", err, out)
		}

		// Refused: no tracking; an order not paid.
		var refused struct{ Error caisse.Error }
		if s := a.admin(http.MethodPost, "/api/admin/orders/o_ship/ship", map[string]string{"carrier": "Colissimo"}, &refused); s != http.StatusBadRequest ||
			!strings.Contains(refused.Error.Message, "tracking_number") {
			t.Fatalf("a shipment without tracking: %d %+v", s, refused.Error)
		}
		if s := a.admin(http.MethodPost, "/api/admin/orders/o_unpaid/ship", caisse.ShipRequest{Carrier: "Colissimo", TrackingNumber: "X1"}, &refused); s != http.StatusConflict ||
			!strings.Contains(refused.Error.Message, "not paid") {
			t.Fatalf("shipping an unpaid order: %d %+v", s, refused.Error)
		}
		if _, err := a.cli("orders", "ship", "o_ship", "--carrier", "Colissimo"); err == nil || !strings.Contains(err.Error(), "--tracking") {
			t.Fatalf("caisse orders ship without --tracking: %v", err)
		}

		ship := caisse.ShipRequest{Carrier: "Colissimo", TrackingNumber: "6A12345678901", TrackingURL: "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901"}
		var o caisse.Order
		if s := a.admin(http.MethodPost, "/api/admin/orders/o_ship/ship", ship, &o); s != http.StatusOK || o.Shipment == nil ||
			o.Shipment.Carrier != "Colissimo" || o.Shipment.TrackingNumber != "6A12345678901" || o.Shipment.ShippedAt.IsZero() {
			t.Fatalf("shipping o_ship: %d %+v", s, o.Shipment)
		}
		// The same again is the same shipment.
		if s := a.admin(http.MethodPost, "/api/admin/orders/o_ship/ship", ship, &o); s != http.StatusOK {
			t.Fatalf("shipping o_ship again: %d", s)
		}
		a.clock.advance(5 * time.Second)
		a.until("the buyer told, the shop's endpoint and Stripe too", func() bool {
			return len(shippedEmails(t, r, "o_ship")) >= 1 && a.drained()
		})
		mails := shippedEmails(t, r, "o_ship")
		if len(mails) != 1 || mails[0].Header["X-Test-To"][0] != "camille@example.com" || !strings.Contains(mails[0].Text, "6A12345678901") ||
			!strings.Contains(mails[0].HTML, `href="https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901"`) ||
			!strings.Contains(mails[0].Text, "12 rue des Lilas") {
			t.Fatalf("%d order_shipped emails, want one to camille@example.com with the tracking link and the address: %+v", len(mails), mails)
		}
		hooks := 0
		for _, h := range r.shop.requests() {
			if strings.Contains(string(h.Body), `"type":"order.shipped"`) {
				hooks++
				if !strings.Contains(string(h.Body), `"tracking_number":"6A12345678901"`) {
					t.Errorf("order.shipped does not carry the shipment: %s", h.Body)
				}
			}
		}
		if hooks != 1 {
			t.Errorf("%d order.shipped webhooks, want 1", hooks)
		}
		updates := func() []stripemock.Request {
			var out []stripemock.Request
			for _, req := range fake.Requests() {
				if req.Method == http.MethodPost && req.Path == "/v1/payment_intents/pi_o_ship" {
					out = append(out, req)
				}
			}
			return out
		}
		if u := updates(); len(u) != 1 || u[0].Form.Get("shipping[carrier]") != "Colissimo" || u[0].Form.Get("shipping[tracking_number]") != "6A12345678901" ||
			u[0].Form.Get("shipping[name]") != "Camille Martin" || u[0].Form.Get("shipping[address][line1]") != "12 rue des Lilas" ||
			u[0].Form.Get("shipping[address][country]") != "FR" {
			t.Fatalf("Stripe got %d updates of the payment intent, want one with the carrier, tracking and address: %+v", len(u), u)
		}
		if err := a.admin(http.MethodGet, "/api/admin/orders?status=to_ship", nil, &toShip); err != http.StatusOK || len(toShip.Data) != 1 || toShip.Data[0].ID != "o_first" {
			t.Fatalf("orders to ship once o_ship left: %+v", toShip.Data)
		}

		// Another tracking number: one correction, and Stripe gets it.
		out, err = a.cli("orders", "ship", "o_ship", "--carrier", "Colissimo", "--tracking", "6A99999999999")
		if err != nil || !strings.Contains(out, "6A99999999999") {
			t.Fatalf("caisse orders ship: %v\n%s", err, out)
		}
		// The command wrote its email due a moment after the real time,
		// which caisse's clock (the test's, standing still) is behind.
		a.clock.advance(10 * time.Minute)
		a.until("the correction sent", func() bool { return len(shippedEmails(t, r, "o_ship")) >= 2 && a.drained() })
		mails = shippedEmails(t, r, "o_ship")
		if len(mails) != 2 || !strings.Contains(mails[1].Subject, "corrected tracking") || !strings.Contains(mails[1].Text, "6A99999999999") {
			t.Fatalf("after the correction: %d emails, the last %q, want a second one correcting the tracking", len(mails), mails[len(mails)-1].Subject)
		}
		if u := updates(); len(u) != 2 || u[1].Form.Get("shipping[tracking_number]") != "6A99999999999" {
			t.Fatalf("Stripe got %d updates, want a second with the new tracking", len(u))
		}
		o = a.order("o_ship")
		var notes []string
		for _, e := range o.Timeline {
			notes = append(notes, e.Note)
		}
		if !slices.Contains(notes, "shipped with Colissimo, tracking 6A12345678901") || !slices.Contains(notes, "shipment corrected: Colissimo, tracking 6A99999999999") {
			t.Errorf("the timeline says %q", notes)
		}

		// The pages: the slip to print, and the form refused in French.
		c, _ := signedInClient(t, a)
		status, slip := getIn(t, c, a.url+"/admin/orders/o_first/slip", "fr")
		if status != http.StatusOK || strings.Contains(slip, "<nav") || !strings.Contains(slip, `id="slip-address">Camille Martin<br>12 rue des Lilas`) ||
			!strings.Contains(slip, "Moonrise") || !strings.Contains(slip, "Bordereau de colis") {
			t.Fatalf("the packing slip: %d\n%s", status, slip)
		}
		form := "carrier=Colissimo&tracking_number="
		if ans := postPage(t, c, a.url+"/admin/orders/o_first/ship", "fr", "application/x-www-form-urlencoded", strings.NewReader(form)); ans.status != http.StatusBadRequest ||
			!strings.Contains(ans.body, "indiquez le transporteur et le numéro de suivi") || !strings.Contains(ans.body, `value="Colissimo"`) {
			t.Fatalf("the form without tracking: %d\n%s", ans.status, ans.body)
		}
		if ans := postPage(t, c, a.url+"/admin/orders/o_unpaid/ship", "en", "application/x-www-form-urlencoded", strings.NewReader(form+"X1")); ans.status != http.StatusConflict ||
			!strings.Contains(ans.body, "It cannot be shipped: it is not paid") {
			t.Fatalf("the form of an unpaid order: %d\n%s", ans.status, ans.body)
		}
		if ans := postPage(t, c, a.url+"/admin/orders/o_first/ship", "en", "application/x-www-form-urlencoded", strings.NewReader(form+"X1")); ans.status != http.StatusOK ||
			!strings.Contains(ans.body, "Shipment recorded") || !strings.Contains(ans.body, `id="carrier">Colissimo`) {
			t.Fatalf("the form shipping o_first: %d\n%s", ans.status, ans.body)
		}
		status, dash := getIn(t, c, a.url+"/admin/", "en")
		if status != http.StatusOK || strings.Contains(dash, `data-order="o_first"`) {
			t.Errorf("the dashboard still lists o_first to ship")
		}

		// Refunded in full: it cannot ship any more.
		a.process(stripe.Example{Type: "charge.refunded", OrderID: "o_ship", ProductID: "print-1", Amount: 11800, PaymentIntent: "pi_o_ship"})
		if s := a.admin(http.MethodPost, "/api/admin/orders/o_ship/ship", ship, &refused); s != http.StatusConflict || !strings.Contains(refused.Error.Message, "refunded in full") {
			t.Fatalf("shipping a refunded order: %d %+v", s, refused.Error)
		}
	})
}
