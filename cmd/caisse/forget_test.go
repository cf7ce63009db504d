package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/stripe"
)

// person is a customer as the test's events name them.
type person struct {
	email, name, phone, street, line2 string
}

// traces are the strings that would show the person is still known.
func (p person) traces() []string {
	return []string{p.email, p.name, p.phone, p.street, p.line2}
}

// personEvents are the events of one order sold through Checkout to p,
// each naming them every way Stripe does: the session's customer_details
// and collected shipping, the payment intent's receipt_email and shipping,
// a declined attempt's payment method billing details, the charge's
// billing details.
func personEvents(t *testing.T, order, product string, p person) []stripe.Example {
	t.Helper()
	return []stripe.Example{
		{Type: "payment_intent.payment_failed", OrderID: order, ProductID: product, Amount: 4000, Email: p.email},
		{Type: "payment_intent.succeeded", OrderID: order, ProductID: product, Amount: 4000, Email: p.email},
		{Type: "charge.succeeded", OrderID: order, ProductID: product, Amount: 4000, Email: p.email},
		{Type: "checkout.session.completed", OrderID: order, ProductID: product, Amount: 4000, Email: p.email, APIVersion: "2025-03-31.basil"},
	}
}

// payload builds an example's event with p in every place Stripe puts a
// person.
func (p person) payload(t *testing.T, ex stripe.Example) []byte {
	t.Helper()
	address := map[string]any{"line1": p.street, "line2": p.line2, "postal_code": "69003", "city": "Lyon", "state": nil, "country": "FR"}
	billing := map[string]any{"address": address, "email": p.email, "name": p.name, "phone": p.phone}
	return build(t, ex, func(obj map[string]any) {
		switch ex.Type {
		case "checkout.session.completed":
			obj["customer_details"] = map[string]any{"address": address, "email": p.email, "name": p.name, "phone": p.phone,
				"tax_exempt": "none", "tax_ids": []any{}}
			obj["collected_information"] = map[string]any{"business_name": nil, "individual_name": nil,
				"shipping_details": map[string]any{"address": address, "name": p.name}}
			obj["shipping_cost"] = map[string]any{"amount_subtotal": 500, "amount_tax": 0, "amount_total": 500, "shipping_rate": "shr_colis"}
			obj["total_details"] = map[string]any{"amount_discount": 0, "amount_shipping": 500, "amount_tax": 0}
		case "payment_intent.payment_failed":
			obj["receipt_email"] = nil
			obj["last_payment_error"].(map[string]any)["payment_method"] = map[string]any{"id": "pm_declined", "billing_details": billing}
		case "payment_intent.succeeded":
			obj["shipping"] = map[string]any{"address": address, "carrier": nil, "name": p.name, "phone": p.phone, "tracking_number": nil}
		case "charge.succeeded":
			obj["billing_details"] = billing
		}
	})
}

// sell delivers an order's events to p, each processed before the next,
// and returns their ids.
func (a *app) sell(order, product string, p person) []string {
	a.t.Helper()
	var ids []string
	for _, ex := range personEvents(a.t, order, product, p) {
		ex.EventID = stripe.NewID("evt")
		a.deliver(p.payload(a.t, ex))
		if s := a.wait(ex.EventID)[ex.EventID]; s != caisse.EventProcessed {
			a.t.Fatalf("event %s (%s) ended %s", ex.EventID, ex.Type, s)
		}
		ids = append(ids, ex.EventID)
	}
	return ids
}

// found searches every text and binary column of every table of the app's
// database, River's included, for each of what (in any case), and returns
// where each was found ("table.column"), by what.
func (a *app) found(what ...string) map[string][]string {
	a.t.Helper()
	db := a.raw()
	ctx := context.Background()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if a.db == postgresDB {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		a.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			a.t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 10 {
		a.t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM `+table)
		if err != nil {
			a.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			values := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range values {
				ptrs[i] = &values[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				a.t.Fatal(err)
			}
			for i, v := range values {
				var text string
				switch v := v.(type) {
				case nil:
					continue
				case []byte:
					text = string(v)
				case string:
					text = v
				default:
					b, _ := json.Marshal(v)
					text = string(b) + fmt.Sprint(v)
				}
				text = strings.ToLower(text)
				for _, w := range what {
					if strings.Contains(text, strings.ToLower(w)) {
						where := table + "." + cols[i]
						if !slices.Contains(out[w], where) {
							out[w] = append(out[w], where)
						}
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			a.t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// A customer who asks to be forgotten leaves no trace: after a sale whose
// events name them every way Stripe does (the session's customer details
// and collected shipping, the receipt email, a declined card's billing
// details, the charge's billing details) and the emails sent to them,
// DELETE /api/admin/customers/{email} (the address in another case) erases
// their email, name, phone and street from every table of the database,
// River's included, and answers with the address asked for, the order and
// counts; the order keeps its amounts and status; another customer keeps
// everything; a replayed redacted event brings nothing back and changes
// nothing; `caisse customers forget` then finds nothing left.
func TestForgetCustomer(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		a := setup(t, db, r.env)
		a.putPrice("print-z", 4000, 5)
		a.putPrice("print-a", 4000, 5)
		zoe := person{email: "Zoe.Oublie@Example.com", name: "Zoé Oubliée", phone: "+33 6 99 88 77 66",
			street: "7 impasse des Souvenirs", line2: "Escalier C"}
		ada := person{email: "ada.garde@example.org", name: "Ada Gardée", phone: "+33 1 23 45 67 89",
			street: "1 rue de la Mémoire", line2: "Porte 4"}
		zoeEvents := a.sell("o_zoe", "print-z", zoe)
		a.sell("o_ada", "print-a", ada)
		// The buyers were told: a declined card's email and a confirmation
		// each, so the outbox holds their addresses.
		a.until("two emails to each buyer", func() bool { return len(r.mail.Messages()) >= 4 })
		a.until("every delivery done", a.drained)
		for _, w := range zoe.traces() {
			if len(a.found(w)[w]) == 0 {
				t.Fatalf("%q is nowhere before the customer is forgotten: the search does not work", w)
			}
		}
		if where := a.found(zoe.email)[zoe.email]; !slices.Contains(where, "outbox.recipient") || !slices.Contains(where, "events.payload") {
			t.Fatalf("before forgetting, the address is in %v", where)
		}
		before := a.order("o_zoe")
		if before.Status != caisse.StatusPaid || before.Customer.Name != zoe.name || before.Shipping == nil {
			t.Fatalf("order before: %+v", before)
		}

		var got caisse.Forgotten
		asked := "ZOE.oublie@example.COM"
		if s := a.admin(http.MethodDelete, "/api/admin/customers/"+asked, nil, &got); s != http.StatusOK {
			t.Fatalf("DELETE: %d", s)
		}
		if got.Email != asked || !slices.Equal(got.Orders, []string{"o_zoe"}) || got.Events < 4 || got.Deliveries < 2 || got.Facts < 3 {
			t.Errorf("forgotten: %+v", got)
		}
		answer, _ := json.Marshal(got)
		for _, w := range zoe.traces()[1:] {
			if strings.Contains(string(answer), w) {
				t.Errorf("the answer %s names %q", answer, w)
			}
		}

		check := func(when string) {
			t.Helper()
			for w, where := range a.found(zoe.traces()...) {
				t.Errorf("%s: %q is still in %v", when, w, where)
			}
			found := a.found(ada.traces()...)
			for _, w := range ada.traces() {
				if !slices.Contains(found[w], "orders.customer_email") && !slices.Contains(found[w], "orders.customer_name") &&
					!slices.Contains(found[w], "orders.customer_phone") && !slices.Contains(found[w], "orders.shipping") {
					t.Errorf("%s: the other customer's %q is no longer on their order (%v)", when, w, found[w])
				}
				if !slices.Contains(found[w], "events.payload") {
					t.Errorf("%s: the other customer's %q is no longer in their events", when, w)
				}
			}
			o := a.order("o_zoe")
			if o.Status != before.Status || o.AmountTotal != before.AmountTotal || o.AmountPaid != before.AmountPaid ||
				o.AmountDue != before.AmountDue || o.AmountShipping != before.AmountShipping || o.FailedAttempts != before.FailedAttempts ||
				!slices.Equal(o.Items, before.Items) || o.PaymentIntent != before.PaymentIntent || o.CheckoutSession != before.CheckoutSession {
				t.Errorf("%s: the order changed beyond its customer:\nbefore %+v\nafter  %+v", when, before, o)
			}
			if o.Customer != (caisse.Customer{}) || o.CustomerEmail != "" || o.Shipping != nil {
				t.Errorf("%s: the order still names its customer: %+v %+v", when, o.Customer, o.Shipping)
			}
			if other := a.order("o_ada"); other.Customer.Email != ada.email || other.Customer.Name != ada.name || other.Shipping == nil ||
				other.Shipping.Address.Line1 != ada.street {
				t.Errorf("%s: the other customer changed: %+v %+v", when, other.Customer, other.Shipping)
			}
		}
		check("forgotten")
		// The redacted events keep their ids and amounts.
		q := `SELECT payload FROM events WHERE id = ?`
		if db == postgresDB {
			q = `SELECT payload FROM events WHERE id = $1`
		}
		for _, id := range zoeEvents {
			var payload []byte
			if err := a.raw().QueryRow(q, id).Scan(&payload); err != nil {
				t.Fatal(err)
			}
			var e struct {
				ID   string
				Data struct{ Object map[string]any }
			}
			if err := json.Unmarshal(payload, &e); err != nil || e.ID != id || e.Data.Object["amount"] == nil && e.Data.Object["amount_total"] == nil {
				t.Errorf("event %s after redaction: %s %v", id, payload, err)
			}
		}

		// A replay of every redacted event applies and brings nothing back.
		for _, id := range zoeEvents {
			a.forget(id)
			if s := a.admin(http.MethodPost, "/api/admin/events/"+id+"/replay", nil, nil); s != http.StatusAccepted {
				t.Fatalf("replay %s: %d", id, s)
			}
		}
		for id, s := range a.wait(zoeEvents...) {
			if s != caisse.EventProcessed {
				t.Errorf("replayed event %s ended %s", id, s)
			}
		}
		a.until("every delivery done", a.drained)
		check("replayed")
		if n := len(r.mail.Messages()); n != 4 {
			t.Errorf("%d emails after the replay, want the 4 sent before", n)
		}

		// Forgetting again finds nothing; a word that is not an address is refused.
		out, err := a.cli("customers", "forget", "zoe.oublie@example.com", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var again caisse.Forgotten
		if err := json.Unmarshal([]byte(out), &again); err != nil || len(again.Orders) != 0 || again.Events != 0 || again.Facts != 0 {
			t.Errorf("forgetting again: %s %v", out, err)
		}
		if s := a.admin(http.MethodDelete, "/api/admin/customers/zoe", nil, nil); s != http.StatusBadRequest {
			t.Errorf("DELETE a word that is not an address: %d, want 400", s)
		}
		if out, err := a.cli("customers", "forget", "zoe"); err == nil || !strings.Contains(err.Error(), "email address") {
			t.Errorf("forget zoe: %s %v", out, err)
		}
		if out, err := a.cli("customers", "forget", ada.email); err != nil || !strings.Contains(out, "o_ada") {
			t.Errorf("forget ada: %s %v", out, err)
		}
		for w, where := range a.found(ada.traces()...) {
			t.Errorf("the second customer's %q is still in %v", w, where)
		}
	})
}

// CAISSE_PERSONAL_DATA_RETENTION erases the customers of the orders older
// than it, on its own (a River job): once caisse's clock has moved past it,
// the old order's customer is nowhere in the database, its amounts and
// status kept; an order younger than the retention keeps its customer.
func TestPersonalDataRetention(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db, func(env map[string]string) {
			env[testClock] = ""
			env[testForgetEvery] = "50ms"
			env["CAISSE_PERSONAL_DATA_RETENTION"] = "720h"
		})
		a.putPrice("print-z", 4000, 5)
		a.putPrice("print-a", 4000, 5)
		old := person{email: "vieux@example.com", name: "Victor Ancien", phone: "+33 4 11 22 33 44",
			street: "3 chemin du Passé", line2: "Bâtiment Z"}
		young := person{email: "jeune@example.com", name: "Julie Récente", phone: "+33 4 55 66 77 88",
			street: "9 avenue du Présent", line2: "Appartement 2"}
		a.sell("o_old", "print-z", old)
		before := a.order("o_old")
		if before.Customer.Email != old.email {
			t.Fatalf("the old order's customer: %+v", before.Customer)
		}
		// 30 days and an hour later, another order; the job runs every 50ms.
		a.clock.advance(721 * time.Hour)
		a.sell("o_young", "print-a", young)
		a.until("the old order's customer erased", func() bool { return a.order("o_old").Customer == caisse.Customer{} })
		a.until("the old order's facts and events erased", func() bool { return len(a.found(old.traces()...)) == 0 })
		o := a.order("o_old")
		if o.Status != caisse.StatusPaid || o.AmountPaid != before.AmountPaid || o.AmountTotal != before.AmountTotal || o.Shipping != nil {
			t.Errorf("the old order after the retention: %+v", o)
		}
		if y := a.order("o_young"); y.Customer.Email != young.email || y.Shipping == nil || y.Shipping.Address.Line1 != young.street {
			t.Errorf("the young order lost its customer: %+v %+v", y.Customer, y.Shipping)
		}
		if found := a.found(young.traces()...); len(found) != len(young.traces()) {
			t.Errorf("the young order's customer is only partly kept: %v", found)
		}
	})
}

// CAISSE_PERSONAL_DATA_RETENTION is a duration of a day or more; the
// error names the variable.
func TestPersonalDataRetentionIsValidated(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"a year", "1h", "-8760h"} {
		_, _, err := LoadConfig(func(k string) string {
			return map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret, "CAISSE_PERSONAL_DATA_RETENTION": bad}[k]
		}, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "CAISSE_PERSONAL_DATA_RETENTION") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	cfg, _, err := LoadConfig(func(k string) string {
		return map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret, "CAISSE_PERSONAL_DATA_RETENTION": "8760h"}[k]
	}, nil, nil)
	if err != nil || cfg.PersonalDataRetention != 8760*time.Hour {
		t.Errorf("8760h: %v %v", cfg.PersonalDataRetention, err)
	}
}
