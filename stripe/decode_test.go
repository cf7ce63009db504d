package stripe

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/caisse/caisse"
)

func TestDecodeEvent(t *testing.T) {
	t.Parallel()
	valid := `{"id":"evt_1Qabc","object":"event","api_version":"2025-03-31.basil","created":1750000000,` +
		`"livemode":true,"pending_webhooks":1,"type":"checkout.session.completed",` +
		`"data":{"object":{"id":"cs_test_a1","object":"checkout.session"}}}`
	tests := []struct {
		name    string
		body    string
		wantErr string // a substring of the error; "" means valid
	}{
		{"valid", valid, ""},
		{"not JSON", `{"id":`, "not valid JSON"},
		{"empty body", ``, "not valid JSON"},
		{"a JSON array", `[1,2]`, "not valid JSON"},
		{"object is not event", `{"id":"cs_1","object":"checkout.session","type":"x","livemode":false,"data":{"object":{"id":"cs_1"}}}`, "not a Stripe event"},
		{"no object field", `{"id":"evt_1","type":"x","livemode":false,"data":{"object":{"id":"cs_1"}}}`, "not a Stripe event"},
		{"thin event", `{"id":"evt_test_65R","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered","livemode":false,"created":"2024-09-17T06:20:52.246Z","related_object":{"id":"mtr_1","type":"billing.meter","url":"/v1/billing/meters/mtr_1"}}`, "thin"},
		{"minimal thin event", `{"id":"evt_1","object":"v2.core.event","type":"v1.billing.meter.no_meter_found","livemode":false}`, "thin"},
		{"missing id", `{"object":"event","type":"checkout.session.completed","livemode":false,"data":{"object":{"id":"cs_1"}}}`, "no valid id"},
		{"id without evt_", `{"id":"cs_1","object":"event","type":"checkout.session.completed","livemode":false,"data":{"object":{"id":"cs_1"}}}`, "no valid id"},
		{"missing type", `{"id":"evt_1","object":"event","livemode":false,"data":{"object":{"id":"cs_1"}}}`, "no type"},
		{"missing livemode", `{"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_1"}}}`, "no livemode"},
		{"data.object missing", `{"id":"evt_1","object":"event","type":"checkout.session.completed","livemode":false,"data":{}}`, "no data.object"},
		{"data missing", `{"id":"evt_1","object":"event","type":"checkout.session.completed","livemode":false}`, "no data.object"},
		{"data.object null", `{"id":"evt_1","object":"event","type":"checkout.session.completed","livemode":false,"data":{"object":null}}`, "no data.object"},
		{"data.object a string", `{"id":"evt_1","object":"event","type":"checkout.session.completed","livemode":false,"data":{"object":"cs_1"}}`, "no data.object"},
		{"a NUL in the id", `{"id":"evt_1\u0000","object":"event","type":"checkout.session.completed","livemode":false,"data":{"object":{"id":"cs_1"}}}`, "no valid id"},
		{"a NUL in the type", `{"id":"evt_1","object":"event","type":"checkout.session.completed\u0000","livemode":false,"data":{"object":{"id":"cs_1"}}}`, "not an event type"},
		{"a NUL in the api_version", `{"id":"evt_1","object":"event","api_version":"2025\u0000","type":"x","livemode":false,"data":{"object":{"id":"cs_1"}}}`, "not an API version"},
		{"a NUL in the object id", `{"id":"evt_1","object":"event","type":"charge.refunded","livemode":false,"data":{"object":{"id":"ch\u00001"}}}`, "data.object.id is not a Stripe id"},
		{"a space in the id", `{"id":"evt_1 2","object":"event","type":"x","livemode":false,"data":{"object":{"id":"cs_1"}}}`, "no valid id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := DecodeEvent([]byte(tt.body))
			if tt.wantErr != "" {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("DecodeEvent = %+v, %v; want a *DecodeError containing %q", ev, err, tt.wantErr)
				}
				if !strings.Contains(de.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", de.Error(), tt.wantErr)
				}
				if ev != nil {
					t.Errorf("event returned with an error: %+v", ev)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			sameDecoded(t, ev)
			ev.Decoded = nil // compared just above
			want := caisse.Event{ID: "evt_1Qabc", Type: "checkout.session.completed", Created: 1750000000, Livemode: true,
				APIVersion: "2025-03-31.basil", ObjectID: "cs_test_a1", Payload: []byte(tt.body), Status: caisse.EventPending}
			if !reflect.DeepEqual(*ev, want) {
				t.Errorf("DecodeEvent =\n%+v\nwant\n%+v", *ev, want)
			}
		})
	}
	// livemode false is a value, not a missing field.
	ev, err := DecodeEvent([]byte(strings.Replace(valid, `"livemode":true`, `"livemode":false`, 1)))
	if err != nil || ev.Livemode {
		t.Errorf("livemode false: %+v, %v", ev, err)
	}
}

// decodeTestEvent wraps a data.object in a snapshot event envelope and decodes it.
func decodeTestEvent(t *testing.T, id, typ string, created int64, object string) *caisse.Event {
	t.Helper()
	body := `{"id":"` + id + `","object":"event","api_version":"2025-03-31.basil","created":` +
		strconv.FormatInt(created, 10) + `,"livemode":false,"type":"` + typ + `","data":{"object":` + object + `}}`
	ev, err := DecodeEvent([]byte(body))
	if err != nil {
		t.Fatalf("DecodeEvent(%s): %v\n%s", typ, err, body)
	}
	sameDecoded(t, ev)
	return ev
}

// sameDecoded checks that the facts DecodeEvent read on receipt, in the
// pass that read the envelope, are what Facts reads from the stored body:
// the same facts, or the same refusal.
func sameDecoded(t *testing.T, ev *caisse.Event) {
	t.Helper()
	if ev.Decoded == nil {
		t.Fatalf("DecodeEvent(%s) read no facts on receipt", ev.ID)
	}
	stored := *ev
	stored.Decoded = nil // as the applier reads it back from the database
	ef, err := Facts(&stored)
	if !reflect.DeepEqual(ev.Decoded.Facts, ef) || fmt.Sprint(ev.Decoded.Err) != fmt.Sprint(err) ||
		caisse.ErrorCode(ev.Decoded.Err) != caisse.ErrorCode(err) {
		t.Fatalf("facts read on receipt %+v, %v; read from the body %+v, %v", ev.Decoded.Facts, ev.Decoded.Err, ef, err)
	}
}

const (
	sessionPaidJSON = `{
  "id": "cs_test_a1b2",
  "object": "checkout.session",
  "amount_subtotal": 4500,
  "amount_total": 5000,
  "client_reference_id": "ord_42",
  "currency": "EUR",
  "customer_details": {"email": "buyer@example.com", "name": "Ada"},
  "customer_email": null,
  "livemode": false,
  "metadata": {"items": "shirt-m:2,print-a3:1", "order_id": "ord_meta"},
  "mode": "payment",
  "payment_intent": "pi_3Pabc",
  "payment_status": "paid",
  "status": "complete"
}`
	sessionUnpaidJSON = `{
  "id": "cs_test_unpaid",
  "object": "checkout.session",
  "amount_total": 2000,
  "client_reference_id": null,
  "currency": "eur",
  "customer_details": null,
  "customer_email": "late@example.com",
  "metadata": {"order_id": "ord_7", "product_id": "print-a3", "quantity": "2"},
  "payment_intent": {"id": "pi_3Pdelayed", "object": "payment_intent", "status": "processing"},
  "payment_status": "unpaid",
  "status": "complete"
}`
)

func TestFacts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		typ     string
		created int64
		object  string
		want    caisse.Fact
	}{
		{
			// The shape of a charge.refunded a public Rails project keeps
			// as a captured fixture: no "object" key, no amount. It is read
			// as the charge its type carries.
			name: "a charge without its object key", typ: "charge.refunded",
			object: `{"id":"ch_chargeid","amount_refunded":500,"created":1546324243,"customer":"cus_customerid"}`,
			want:   caisse.Fact{ID: "ch_chargeid", Kind: caisse.KindCharge, AmountRefunded: 500, Created: 1546324243, StripeCustomer: "cus_customerid"},
		},
		{
			name: "charge.succeeded names who paid", typ: "charge.succeeded",
			object: `{"id":"ch_1","object":"charge","amount":2500,"amount_refunded":0,"currency":"eur","payment_intent":"pi_1",` +
				`"billing_details":{"email":"camille@example.com","name":"Camille Martin","phone":"+33 6 12 34 56 78","address":{"city":"Lyon"}},"receipt_email":null}`,
			want: caisse.Fact{ID: "ch_1", Kind: caisse.KindCharge, PaymentIntent: "pi_1", Amount: 2500, Currency: "eur",
				CustomerEmail: "camille@example.com", CustomerName: "Camille Martin", CustomerPhone: "+33 6 12 34 56 78"},
		},
		{
			name: "a charge's receipt address when billing has none", typ: "charge.succeeded",
			object: `{"id":"ch_2","object":"charge","amount":2500,"currency":"eur","billing_details":{"email":null},"receipt_email":"r@example.com"}`,
			want:   caisse.Fact{ID: "ch_2", Kind: caisse.KindCharge, Amount: 2500, Currency: "eur", CustomerEmail: "r@example.com"},
		},
		{
			name: "a session names its customer", typ: "checkout.session.expired",
			object: `{"id":"cs_1","object":"checkout.session","amount_total":5,"currency":"eur",` +
				`"customer_details":{"email":"c@example.com","name":"Camille Martin","phone":"not a phone <script>"}}`,
			want: caisse.Fact{ID: "cs_1", Kind: caisse.KindSession, Amount: 5, Currency: "eur", Expired: true,
				CustomerEmail: "c@example.com", CustomerName: "Camille Martin"},
		},
		{
			name: "a declined card's reason", typ: "payment_intent.payment_failed", created: 1750000100,
			object: `{"id":"pi_1","object":"payment_intent","amount":5,"currency":"eur",` +
				`"last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`,
			want: caisse.Fact{ID: "pi_1", Kind: caisse.KindPaymentIntent, Amount: 5, Currency: "eur", PaymentError: "Your card has insufficient funds.",
				PaymentErrorCode: "insufficient_funds", PaymentErrorAt: 1750000100, FailedAttempts: []string{"evt_test"}},
		},
		{
			name: "an error's code when the bank gave no reason", typ: "payment_intent.payment_failed", created: 1750000100,
			object: `{"id":"pi_1","object":"payment_intent","amount":5,"currency":"eur",` +
				`"last_payment_error":{"code":"expired_card","message":"Your card has expired."}}`,
			want: caisse.Fact{ID: "pi_1", Kind: caisse.KindPaymentIntent, Amount: 5, Currency: "eur", PaymentError: "Your card has expired.",
				PaymentErrorCode: "expired_card", PaymentErrorAt: 1750000100, FailedAttempts: []string{"evt_test"}},
		},
		{
			name: "checkout.session.completed paid", typ: "checkout.session.completed", object: sessionPaidJSON,
			want: caisse.Fact{ID: "cs_test_a1b2", Kind: caisse.KindSession, OrderRef: "ord_42", PaymentIntent: "pi_3Pabc",
				Completed: true, SessionPaid: true, Amount: 5000, Currency: "eur", CustomerEmail: "buyer@example.com", CustomerName: "Ada",
				Items: []caisse.Item{{ProductID: "shirt-m", Quantity: 2}, {ProductID: "print-a3", Quantity: 1}}},
		},
		{
			name: "checkout.session.completed unpaid", typ: "checkout.session.completed", object: sessionUnpaidJSON,
			want: caisse.Fact{ID: "cs_test_unpaid", Kind: caisse.KindSession, OrderRef: "ord_7", PaymentIntent: "pi_3Pdelayed",
				Completed: true, Amount: 2000, Currency: "eur", CustomerEmail: "late@example.com",
				Items: []caisse.Item{{ProductID: "print-a3", Quantity: 2}}},
		},
		{
			name: "checkout.session.completed no payment required", typ: "checkout.session.completed",
			object: `{"id":"cs_free","object":"checkout.session","amount_total":0,"currency":"eur","payment_intent":null,"payment_status":"no_payment_required","metadata":{}}`,
			want:   caisse.Fact{ID: "cs_free", Kind: caisse.KindSession, Completed: true, SessionPaid: true, Currency: "eur"},
		},
		{
			name: "checkout.session.async_payment_succeeded", typ: "checkout.session.async_payment_succeeded",
			object: strings.Replace(sessionUnpaidJSON, `"payment_status": "unpaid"`, `"payment_status": "paid"`, 1),
			want: caisse.Fact{ID: "cs_test_unpaid", Kind: caisse.KindSession, OrderRef: "ord_7", PaymentIntent: "pi_3Pdelayed",
				Completed: true, AsyncSucceeded: true, Amount: 2000, Currency: "eur", CustomerEmail: "late@example.com",
				Items: []caisse.Item{{ProductID: "print-a3", Quantity: 2}}},
		},
		{
			name: "checkout.session.async_payment_failed", typ: "checkout.session.async_payment_failed", object: sessionUnpaidJSON,
			want: caisse.Fact{ID: "cs_test_unpaid", Kind: caisse.KindSession, OrderRef: "ord_7", PaymentIntent: "pi_3Pdelayed",
				Completed: true, AsyncFailed: true, Amount: 2000, Currency: "eur", CustomerEmail: "late@example.com",
				Items: []caisse.Item{{ProductID: "print-a3", Quantity: 2}}},
		},
		{
			name: "checkout.session.expired", typ: "checkout.session.expired",
			object: `{"id":"cs_test_exp","object":"checkout.session","amount_total":1500,"client_reference_id":"ord_9",` +
				`"currency":"usd","customer_email":null,"metadata":{"items":"mug:0"},"payment_intent":null,"payment_status":"unpaid","status":"expired"}`,
			want: caisse.Fact{ID: "cs_test_exp", Kind: caisse.KindSession, OrderRef: "ord_9", Expired: true, Amount: 1500,
				Currency: "usd", UnknownItems: `metadata items: quantity "0" of "mug" is not a whole number from 1 to 10000`},
		},
		{
			name: "payment_intent.succeeded", typ: "payment_intent.succeeded",
			object: `{"id":"pi_3Pabc","object":"payment_intent","amount":5000,"amount_received":5000,"currency":"eur",` +
				`"latest_charge":"ch_3Pabc","metadata":{"order_id":"ord_42"},"receipt_email":"buyer@example.com","status":"succeeded","last_payment_error":null}`,
			want: caisse.Fact{ID: "pi_3Pabc", Kind: caisse.KindPaymentIntent, OrderRef: "ord_42", Succeeded: true,
				Amount: 5000, AmountReceived: 5000, Currency: "eur", CustomerEmail: "buyer@example.com"},
		},
		{
			name: "payment_intent.succeeded without amount_received", typ: "payment_intent.succeeded",
			object: `{"id":"pi_old","object":"payment_intent","amount":700,"currency":"eur","metadata":{},"status":"succeeded"}`,
			want:   caisse.Fact{ID: "pi_old", Kind: caisse.KindPaymentIntent, Succeeded: true, Amount: 700, AmountReceived: 700, Currency: "eur"},
		},
		{
			name: "payment_intent.payment_failed", typ: "payment_intent.payment_failed", created: 1750000123,
			object: `{"id":"pi_3Pabc","object":"payment_intent","amount":5000,"amount_received":0,"currency":"eur",` +
				`"metadata":{"order_id":"ord_42"},"status":"requires_payment_method",` +
				`"last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","type":"card_error"}}`,
			want: caisse.Fact{ID: "pi_3Pabc", Kind: caisse.KindPaymentIntent, OrderRef: "ord_42", Amount: 5000, Currency: "eur",
				PaymentError: "Your card has insufficient funds.", PaymentErrorCode: "insufficient_funds", PaymentErrorAt: 1750000123,
				FailedAttempts: []string{"evt_test"}},
		},
		{
			name: "payment_intent.payment_failed without a message", typ: "payment_intent.payment_failed", created: 1750000124,
			object: `{"id":"pi_x","object":"payment_intent","amount":100,"currency":"eur","metadata":{},"last_payment_error":null}`,
			want: caisse.Fact{ID: "pi_x", Kind: caisse.KindPaymentIntent, Amount: 100, Currency: "eur",
				PaymentError: "the payment failed", PaymentErrorAt: 1750000124, FailedAttempts: []string{"evt_test"}},
		},
		{
			name: "charge.refunded partial", typ: "charge.refunded",
			object: `{"id":"ch_3Pabc","object":"charge","amount":5000,"amount_captured":5000,"amount_refunded":1500,` +
				`"currency":"eur","payment_intent":"pi_3Pabc","refunded":false,"metadata":{},"status":"succeeded"}`,
			want: caisse.Fact{ID: "ch_3Pabc", Kind: caisse.KindCharge, PaymentIntent: "pi_3Pabc", Amount: 5000,
				AmountRefunded: 1500, Currency: "eur"},
		},
		{
			name: "charge.dispute.created with charge as a string", typ: "charge.dispute.created",
			object: `{"id":"dp_1Pabc","object":"dispute","amount":5000,"charge":"ch_3Pabc","currency":"eur",` +
				`"payment_intent":"pi_3Pabc","reason":"fraudulent","status":"needs_response"}`,
			want: caisse.Fact{ID: "dp_1Pabc", Kind: caisse.KindDispute, PaymentIntent: "pi_3Pabc", Charge: "ch_3Pabc",
				Amount: 5000, Currency: "eur", DisputeStatus: "needs_response", DisputeReason: "fraudulent"},
		},
		{
			name: "charge.dispute.updated with the charge expanded", typ: "charge.dispute.updated",
			object: `{"id":"dp_1Pabc","object":"dispute","amount":5000,"charge":{"id":"ch_3Pabc","object":"charge","amount":5000,` +
				`"payment_intent":"pi_3Pabc"},"currency":"eur","payment_intent":null,"status":"under_review"}`,
			want: caisse.Fact{ID: "dp_1Pabc", Kind: caisse.KindDispute, Charge: "ch_3Pabc", Amount: 5000, Currency: "eur",
				DisputeStatus: "under_review"},
		},
		{
			name: "charge.dispute.closed lost", typ: "charge.dispute.closed",
			object: `{"id":"dp_1Pabc","object":"dispute","amount":5000,"charge":"ch_3Pabc","currency":"eur",` +
				`"payment_intent":{"id":"pi_3Pabc","object":"payment_intent"},"status":"lost"}`,
			want: caisse.Fact{ID: "dp_1Pabc", Kind: caisse.KindDispute, PaymentIntent: "pi_3Pabc", Charge: "ch_3Pabc",
				Amount: 5000, Currency: "eur", DisputeStatus: "lost"},
		},
		{
			name: "charge.dispute.created without a status", typ: "charge.dispute.created",
			object: `{"id":"dp_2","object":"dispute","amount":100,"charge":"ch_2","currency":"eur"}`,
			want:   caisse.Fact{ID: "dp_2", Kind: caisse.KindDispute, Charge: "ch_2", Amount: 100, Currency: "eur", DisputeStatus: "needs_response"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := decodeTestEvent(t, "evt_test", tt.typ, tt.created, tt.object)
			ef, err := Facts(ev)
			if err != nil {
				t.Fatalf("Facts: %v", err)
			}
			if ef.Ignored {
				t.Fatalf("%s was ignored", tt.typ)
			}
			if len(ef.Facts) != 1 {
				t.Fatalf("Facts = %+v, want one fact", ef.Facts)
			}
			if !reflect.DeepEqual(ef.Facts[0], tt.want) {
				t.Errorf("fact =\n%+v\nwant\n%+v", ef.Facts[0], tt.want)
			}
		})
	}
}

// TestFactsDriveStatus checks the decoded facts end to end with the domain:
// they summarize to the status the event means.
func TestFactsDriveStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ    string
		object string
		want   caisse.OrderStatus
	}{
		{"checkout.session.completed", sessionPaidJSON, caisse.StatusPaid},
		{"checkout.session.completed", sessionUnpaidJSON, caisse.StatusAwaitingPayment},
		{"checkout.session.async_payment_failed", sessionUnpaidJSON, caisse.StatusPaymentFailed},
		{"checkout.session.expired", `{"id":"cs_1","object":"checkout.session","amount_total":10,"payment_status":"unpaid"}`, caisse.StatusExpired},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			ef, err := Facts(decodeTestEvent(t, "evt_1", tt.typ, 1, tt.object))
			if err != nil {
				t.Fatal(err)
			}
			if got := caisse.Summarize(ef.Facts, nil).Status; got != tt.want {
				t.Errorf("status = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFactsUnhandledAndBroken(t *testing.T) {
	t.Parallel()
	t.Run("unknown type is ignored", func(t *testing.T) {
		t.Parallel()
		for _, typ := range []string{"customer.created", "invoice.paid", "charge.captured", "payment_intent.created"} {
			ev := decodeTestEvent(t, "evt_1", typ, 1, `{"id":"cus_1","object":"customer"}`)
			ef, err := Facts(ev)
			if err != nil || !ef.Ignored || len(ef.Facts) != 0 {
				t.Errorf("%s: Facts = %+v, %v; want Ignored with no facts", typ, ef, err)
			}
		}
	})
	t.Run("handled type with no object id fails", func(t *testing.T) {
		t.Parallel()
		ev := decodeTestEvent(t, "evt_1", "charge.refunded", 1, `{"object":"charge","amount":5}`)
		if ef, err := Facts(ev); err == nil {
			t.Errorf("Facts = %+v, want an error", ef)
		}
	})
	t.Run("handled type with an unreadable field fails", func(t *testing.T) {
		t.Parallel()
		ev := decodeTestEvent(t, "evt_1", "charge.dispute.created", 1, `{"id":"dp_1","object":"dispute","charge":42}`)
		if ef, err := Facts(ev); err == nil {
			t.Errorf("Facts = %+v, want an error", ef)
		}
	})
	t.Run("every handled type decodes", func(t *testing.T) {
		t.Parallel()
		for _, typ := range caisse.HandledTypes {
			ef, err := Facts(decodeTestEvent(t, "evt_1", typ, 1, `{"id":"xx_1","object":"`+objectType(typ)+`"}`))
			if strings.HasPrefix(typ, "payout.") {
				// A payout is the books', not an order's fact.
				if err != nil || ef.Ignored || ef.Payout == nil || ef.Payout.ID != "xx_1" {
					t.Errorf("%s: Facts = %+v, %v", typ, ef, err)
				}
				continue
			}
			if err != nil || ef.Ignored || len(ef.Facts) != 1 || ef.Facts[0].Kind == "" {
				t.Errorf("%s: Facts = %+v, %v", typ, ef, err)
			}
		}
	})
}

// A signed event whose object or numbers make no sense is refused with a
// reason (EINVALID, so it becomes a dead letter at once), and nothing of it
// is decoded into facts.
func TestFactsRefuseNonsense(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, object, want string
	}{
		{"a session event carrying a charge", "checkout.session.expired",
			`{"id":"ch_1","object":"charge","amount":1000,"amount_refunded":0,"currency":"eur"}`, `is a "charge", not the checkout.session`},
		{"an object that says it is something else", "charge.refunded",
			`{"id":"cus_1","object":"customer","amount":1000,"amount_refunded":1000}`, `is a "customer", not the charge a charge.refunded event carries`},
		{"a negative amount refunded", "charge.refunded",
			`{"id":"ch_1","object":"charge","amount":1000,"amount_refunded":-500,"currency":"eur","payment_intent":"pi_1"}`, "amount_refunded is -500"},
		{"an amount refunded of 2^63-1", "charge.refunded",
			`{"id":"ch_1","object":"charge","amount":9223372036854775807,"amount_refunded":9223372036854775807,"currency":"eur"}`, "amount is 9223372036854775807"},
		{"an amount beyond int64", "payment_intent.succeeded",
			`{"id":"pi_1","object":"payment_intent","amount":18446744073709551616,"currency":"eur"}`, "not a whole number"},
		{"a fractional amount", "checkout.session.completed",
			`{"id":"cs_1","object":"checkout.session","amount_total":10.5,"currency":"eur","payment_status":"paid"}`, "not a whole number"},
		{"an amount as a string", "payment_intent.succeeded",
			`{"id":"pi_1","object":"payment_intent","amount":"5000","currency":"eur"}`, "not a whole number"},
		{"more refunded than charged", "charge.refunded",
			`{"id":"ch_1","object":"charge","amount":1000,"amount_refunded":1001,"currency":"eur"}`, "more than its amount"},
		{"a currency that is not one", "payment_intent.succeeded",
			`{"id":"pi_1","object":"payment_intent","amount":5,"currency":"euro"}`, "not a three-letter currency code"},
		{"a NUL in the order id", "checkout.session.completed",
			`{"id":"cs_1","object":"checkout.session","amount_total":5,"currency":"eur","client_reference_id":"ord\u0000x","payment_status":"paid"}`, "client_reference_id is not an order id"},
		{"a NUL in metadata.order_id", "payment_intent.succeeded",
			`{"id":"pi_1","object":"payment_intent","amount":5,"currency":"eur","metadata":{"order_id":"a\u0000"}}`, "metadata.order_id is not an order id"},
		{"a payment intent that is a number", "charge.refunded",
			`{"id":"ch_1","object":"charge","amount":5,"amount_refunded":5,"currency":"eur","payment_intent":42}`, "payment_intent is not a string"},
		{"a payment status that is not a string", "checkout.session.completed",
			`{"id":"cs_1","object":"checkout.session","amount_total":5,"currency":"eur","payment_status":true}`, "payment_status is not a string"},
		{"a negative tax", "checkout.session.completed",
			`{"id":"cs_1","object":"checkout.session","amount_total":5,"currency":"eur","payment_status":"paid","total_details":{"amount_tax":-1}}`, "total_details.amount_tax is -1"},
		{"a shipping cost as a string", "checkout.session.completed",
			`{"id":"cs_1","object":"checkout.session","amount_total":5,"currency":"eur","payment_status":"paid","shipping_cost":{"amount_total":"15"}}`, "shipping_cost.amount_total"},
		{"a converted amount that is negative", "checkout.session.completed",
			`{"id":"cs_1","object":"checkout.session","amount_total":5,"currency":"usd","payment_status":"paid",` +
				`"currency_conversion":{"source_currency":"eur","amount_total":-4}}`, "currency_conversion.amount_total is -4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ef, err := Facts(decodeTestEvent(t, "evt_bad", tt.typ, 1, tt.object))
			if caisse.ErrorCode(err) != caisse.EINVALID || len(ef.Facts) != 0 {
				t.Fatalf("Facts = %+v, %v; want an EINVALID error and no facts", ef, err)
			}
			msg := caisse.ErrorMessage(err)
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "evt_bad") || !strings.Contains(msg, "applies nothing") {
				t.Errorf("message %q should name the event, say nothing was applied, and contain %q", msg, tt.want)
			}
		})
	}
}

// Where an order goes, from every shape Stripe has sent it in: a session's
// collected_information.shipping_details (API versions from 2025-03-31),
// its shipping_details (earlier), its shipping (before 2022-08-01), a
// payment intent's or a charge's shipping; the session's totals. Fields of
// the address are read leniently: one of the wrong type is left out.
func TestFactsShipping(t *testing.T) {
	t.Parallel()
	const address = `"address":{"line1":"12 rue des Lilas","line2":null,"postal_code":"69003","city":"Lyon","state":null,"country":"fr"}`
	lyon := caisse.Address{Line1: "12 rue des Lilas", PostalCode: "69003", City: "Lyon", Country: "FR"}
	session := `{"id":"cs_1","object":"checkout.session","amount_total":11800,"currency":"eur","payment_status":"paid",` +
		`"customer_details":{"email":"c@example.com","name":"Camille Martin","phone":"+33 6 12 34 56 78"},`
	tests := []struct {
		name, typ, object string
		want              *caisse.Shipping
		shipping, tax     int64
	}{
		{"2025-03-31.basil and later", "checkout.session.completed",
			session + `"collected_information":{"shipping_details":{"name":"Camille Martin",` + address + `}},` +
				`"total_details":{"amount_discount":500,"amount_shipping":1500,"amount_tax":1800}}`,
			&caisse.Shipping{Name: "Camille Martin", Phone: "+33 6 12 34 56 78", Address: lyon}, 1500, 1800},
		{"2022-08-01 to 2025-02-24", "checkout.session.completed",
			session + `"shipping_details":{"name":"Camille Martin",` + address + `},"shipping_cost":{"amount_total":1500},"total_details":null}`,
			&caisse.Shipping{Name: "Camille Martin", Phone: "+33 6 12 34 56 78", Address: lyon}, 1500, 0},
		{"before 2022-08-01", "checkout.session.completed",
			session + `"shipping":{"name":"Camille Martin",` + address + `}}`,
			&caisse.Shipping{Name: "Camille Martin", Phone: "+33 6 12 34 56 78", Address: lyon}, 0, 0},
		{"no address collected", "checkout.session.completed",
			session + `"collected_information":null,"shipping_details":null,"total_details":{"amount_discount":0,"amount_shipping":0,"amount_tax":0}}`,
			nil, 0, 0},
		{"a payment intent's", "payment_intent.succeeded",
			`{"id":"pi_1","object":"payment_intent","amount":500,"amount_received":500,"currency":"eur",` +
				`"shipping":{"name":"Camille Martin","phone":"+33 6 12 34 56 78","carrier":null,"tracking_number":null,` + address + `}}`,
			&caisse.Shipping{Name: "Camille Martin", Phone: "+33 6 12 34 56 78", Address: lyon}, 0, 0},
		{"a charge's, with fields of the wrong type", "charge.succeeded",
			`{"id":"ch_1","object":"charge","amount":500,"currency":"eur","shipping":{"name":42,"phone":"<script>",` +
				`"address":{"line1":["x"],"city":"Lyon","country":"France"}}}`,
			&caisse.Shipping{Address: caisse.Address{City: "Lyon"}}, 0, 0},
		{"a shipping that is not an object", "charge.succeeded",
			`{"id":"ch_1","object":"charge","amount":500,"currency":"eur","shipping":"Lyon"}`, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ef, err := Facts(decodeTestEvent(t, "evt_ok", tt.typ, 1, tt.object))
			if err != nil || len(ef.Facts) != 1 {
				t.Fatalf("Facts = %+v, %v", ef, err)
			}
			f := ef.Facts[0]
			if !reflect.DeepEqual(f.Shipping, tt.want) || f.AmountShipping != tt.shipping || f.AmountTax != tt.tax {
				t.Errorf("shipping %+v, %d, tax %d; want %+v, %d, %d", f.Shipping, f.AmountShipping, f.AmountTax, tt.want, tt.shipping, tt.tax)
			}
		})
	}
}

// Fields caisse does not rely on never fail an event: a wrong type there
// counts as nothing.
func TestFactsLenientFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, object string
		want              caisse.Fact
	}{
		{"last_payment_error is an empty string on a succeeded intent", "payment_intent.succeeded",
			`{"id":"pi_1","object":"payment_intent","amount":500,"amount_received":500,"currency":"eur","last_payment_error":"","metadata":{"order_id":"o1"}}`,
			caisse.Fact{ID: "pi_1", Kind: caisse.KindPaymentIntent, OrderRef: "o1", Succeeded: true, Amount: 500, AmountReceived: 500, Currency: "eur", Created: 0}},
		{"last_payment_error is a string on a failed intent", "payment_intent.payment_failed",
			`{"id":"pi_1","object":"payment_intent","amount":500,"currency":"eur","last_payment_error":"boom"}`,
			caisse.Fact{ID: "pi_1", Kind: caisse.KindPaymentIntent, Amount: 500, Currency: "eur",
				PaymentError: "the payment failed", PaymentErrorAt: 1, FailedAttempts: []string{"evt_ok"}}},
		{"a payment error message with control characters", "payment_intent.payment_failed",
			`{"id":"pi_1","object":"payment_intent","amount":500,"currency":"eur","last_payment_error":{"message":"Declined\u0000\nplease"}}`,
			caisse.Fact{ID: "pi_1", Kind: caisse.KindPaymentIntent, Amount: 500, Currency: "eur",
				PaymentError: "Declined  please", PaymentErrorAt: 1, FailedAttempts: []string{"evt_ok"}}},
		{"emails of the wrong type or shape", "checkout.session.completed",
			`{"id":"cs_1","object":"checkout.session","amount_total":500,"currency":"eur","payment_status":"paid",` +
				`"customer_email":42,"customer_details":"nobody","metadata":{"order_id":"o1","note":7},"created":1700000000}`,
			caisse.Fact{ID: "cs_1", Kind: caisse.KindSession, OrderRef: "o1", Completed: true, SessionPaid: true, Amount: 500,
				Currency: "eur", Created: 1700000000}},
		{"a receipt email with a NUL", "payment_intent.succeeded",
			`{"id":"pi_1","object":"payment_intent","amount":500,"currency":"eur","receipt_email":"a\u0000@b.c"}`,
			caisse.Fact{ID: "pi_1", Kind: caisse.KindPaymentIntent, Succeeded: true, Amount: 500, AmountReceived: 500, Currency: "eur"}},
		{"a session converted by Adaptive Pricing counts in the shop's currency", "checkout.session.completed",
			`{"id":"cs_1","object":"checkout.session","amount_total":5400,"currency":"usd","payment_status":"paid",` +
				`"currency_conversion":{"amount_subtotal":5000,"amount_total":5000,"fx_rate":"1.08","source_currency":"eur"}}`,
			caisse.Fact{ID: "cs_1", Kind: caisse.KindSession, Completed: true, SessionPaid: true, Amount: 5000, Currency: "eur"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ef, err := Facts(decodeTestEvent(t, "evt_ok", tt.typ, 1, tt.object))
			if err != nil || len(ef.Facts) != 1 {
				t.Fatalf("Facts = %+v, %v; want one fact", ef, err)
			}
			if !reflect.DeepEqual(ef.Facts[0], tt.want) {
				t.Errorf("fact =\n%+v\nwant\n%+v", ef.Facts[0], tt.want)
			}
		})
	}
}

// An event of a connected account is stored but never applied to the
// platform's orders.
func TestFactsIgnoreConnectedAccounts(t *testing.T) {
	t.Parallel()
	body := `{"id":"evt_c","object":"event","account":"acct_1Other","api_version":"2025-03-31.basil","created":1,"livemode":false,` +
		`"type":"checkout.session.completed","data":{"object":{"id":"cs_1","object":"checkout.session","amount_total":1,` +
		`"currency":"eur","client_reference_id":"ord_X","payment_status":"paid"}}}`
	ev, err := DecodeEvent([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	ef, err := Facts(ev)
	if err != nil || !ef.Ignored || len(ef.Facts) != 0 || !strings.Contains(ef.Reason, "acct_1Other") {
		t.Fatalf("Facts = %+v, %v; want ignored, naming the account", ef, err)
	}
}
