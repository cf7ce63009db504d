package caisse_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caisse/caisse"
)

func TestRedactPayload(t *testing.T) {
	t.Parallel()
	address := `{"line1":"12 rue des Lilas","line2":"Bât. B","postal_code":"69003","city":"Lyon","state":null,"country":"FR"}`
	for _, tc := range []struct {
		name, in, want string
		changed        bool
	}{
		{"session with customer_details and collected shipping",
			`{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"id":"cs_1","amount_total":11800,"customer":"cus_9",` +
				`"customer_details":{"address":` + address + `,"email":"Camille@Example.com","name":"Camille Martin","phone":"+33 6","tax_exempt":"none","tax_ids":[]},` +
				`"customer_email":"camille@example.com","collected_information":{"business_name":null,"shipping_details":{"address":` + address + `,"name":"Camille Martin"}},` +
				`"shipping_cost":{"amount_total":1500},"metadata":{"order_id":"o1","note":"for camille@example.com"}}}}`,
			`{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"id":"cs_1","amount_total":11800,"customer":null,` +
				`"customer_details":{"address":{"line1":null,"line2":null,"postal_code":null,"city":null,"state":null,"country":null},"email":null,"name":null,"phone":null,"tax_exempt":null,"tax_ids":[]},` +
				`"customer_email":null,"collected_information":{"business_name":null,"shipping_details":{"address":{"line1":null,"line2":null,"postal_code":null,"city":null,"state":null,"country":null},"name":null}},` +
				`"shipping_cost":{"amount_total":1500},"metadata":{"order_id":"o1","note":null}}}}`, true},
		{"payment intent: receipt_email, shipping, last_payment_error's billing details",
			`{"id":"evt_2","data":{"object":{"id":"pi_1","amount":12345678901234,"receipt_email":"c@e.com","shipping":{"name":"Camille Martin","address":` + address + `},` +
				`"last_payment_error":{"message":"Your card was declined.","payment_method":{"id":"pm_1","billing_details":{"email":"c@e.com","name":"C M","phone":null,"address":null}}}}}}`,
			`{"id":"evt_2","data":{"object":{"id":"pi_1","amount":12345678901234,"receipt_email":null,"shipping":{"name":null,"address":{"line1":null,"line2":null,"postal_code":null,"city":null,"state":null,"country":null}},` +
				`"last_payment_error":{"message":"Your card was declined.","payment_method":{"id":"pm_1","billing_details":{"email":null,"name":null,"phone":null,"address":null}}}}}}`, true},
		{"a value named elsewhere", `{"id":"evt_3","description":"Camille Martin","note":"<b>&</b>","n":1.50}`,
			`{"id":"evt_3","description":null,"note":"<b>&</b>","n":1.50}`, true},
		{"nothing personal", `{"id":"evt_4", "amount": 100}`, `{"id":"evt_4", "amount": 100}`, false},
		{"pruned", ``, ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := caisse.RedactPayload([]byte(tc.in), []string{"camille@example.com"}, []string{"Camille Martin", "+33 6", "x"})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || changed != tc.changed {
				t.Errorf("got %v\n%s\nwant %v\n%s", changed, got, tc.changed, tc.want)
			}
			if tc.in != "" && !json.Valid(got) {
				t.Errorf("not JSON: %s", got)
			}
		})
	}
	if _, _, err := caisse.RedactPayload([]byte(`{"id":`), nil, nil); err == nil {
		t.Error("a broken payload is not an error")
	}
}

func TestFactForget(t *testing.T) {
	t.Parallel()
	f := caisse.Fact{ID: "cs_1", Amount: 900, SessionPaid: true, CustomerEmail: "c@e.com", CustomerName: "C", CustomerPhone: "1",
		StripeCustomer: "cus_1", Shipping: &caisse.Shipping{Name: "C"}}
	if !f.Forget() || f.Amount != 900 || !f.SessionPaid || f.CustomerEmail+f.CustomerName+f.CustomerPhone+f.StripeCustomer != "" || f.Shipping != nil {
		t.Errorf("%+v", f)
	}
	if f.Forget() {
		t.Error("a forgotten fact forgets again")
	}
	for _, bad := range []string{"", "camille", "a b@c", strings.Repeat("a", 250) + "@e.com"} {
		if _, err := caisse.ValidForgetEmail(bad); caisse.ErrorCode(err) != caisse.EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
