package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caisse/caisse"
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
