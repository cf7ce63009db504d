package caisse

import (
	"strings"
	"testing"
	"time"
)

// Which orders may ship, and the words for why not.
func TestCannotShip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		o    Order
		want string
	}{
		{Order{Status: StatusPaid}, ""},
		{Order{Status: StatusPartiallyRefunded}, ""},
		{Order{Status: StatusPaid, Oversold: true}, NoShipOversold},
		{Order{Status: StatusPaid, PaymentMismatch: true}, NoShipMismatch},
		{Order{Status: StatusRefunded}, NoShipRefunded},
		{Order{Status: StatusDisputed}, NoShipDisputed},
		{Order{Status: StatusDisputeLost}, NoShipDisputed},
		{Order{Status: StatusPending}, NoShipNotPaid},
		{Order{Status: StatusExpired}, NoShipNotPaid},
	} {
		if got := tc.o.CannotShip(); got != tc.want {
			t.Errorf("%s (oversold %t, mismatch %t): %q, want %q", tc.o.Status, tc.o.Oversold, tc.o.PaymentMismatch, got, tc.want)
		}
		if tc.want != "" {
			for _, lang := range []string{LangEnglish, LangFrench} {
				if w := NoShipWords(tc.want, &tc.o, lang); w == "" {
					t.Errorf("no %s words for %s", lang, tc.want)
				}
			}
		}
	}
}

// The same details ship once; other details are one correction with
// messages of their own; Stripe is told only with a key, a payment and an
// address it takes; a request without tracking is refused.
func TestShip(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	rec := &OrderRecord{Order: Order{ID: "o1", Status: StatusPaid, PaymentIntent: "pi_1",
		Shipping: &Shipping{Name: "Camille", Address: Address{Line1: "12 rue des Lilas", City: "Lyon", Country: "FR"}}}}
	req := ShipRequest{Carrier: " Colissimo ", TrackingNumber: "6A1"}
	msgs, note, changed, err := Ship(rec, req, now, true)
	if err != nil || !changed || len(msgs) != 3 || note != "shipped with Colissimo, tracking 6A1" || rec.Shipment.ShippedAt != now {
		t.Fatalf("first shipment: %v %t %d %q %+v", err, changed, len(msgs), note, rec.Shipment)
	}
	if msgs[0].Payload["correction"] != false || msgs[2].Channel != ChannelStripe {
		t.Errorf("first shipment's messages: %+v", msgs)
	}
	if again, _, changed, err := Ship(rec, req, now.Add(time.Hour), true); err != nil || changed || len(again) != 0 {
		t.Errorf("the same details again: %d messages, changed %t, %v", len(again), changed, err)
	}
	fixed, note, changed, err := Ship(rec, ShipRequest{Carrier: "Colissimo", TrackingNumber: "6A2"}, now.Add(time.Hour), false)
	if err != nil || !changed || len(fixed) != 2 || fixed[0].Key == msgs[0].Key || fixed[0].Payload["correction"] != true ||
		!strings.HasPrefix(note, "shipment corrected") || rec.Shipment.ShippedAt != now {
		t.Errorf("a correction: %v %t %+v %q, shipped at %s", err, changed, fixed, note, rec.Shipment.ShippedAt)
	}
	if _, _, _, err := Ship(rec, ShipRequest{Carrier: "Colissimo"}, now, true); ErrorCode(err) != EINVALID {
		t.Errorf("no tracking number: %v", err)
	}
	if _, _, _, err := Ship(rec, ShipRequest{Carrier: "Colissimo", TrackingNumber: "1", TrackingURL: "javascript:alert(1)"}, now, true); ErrorCode(err) != EINVALID {
		t.Errorf("a tracking page that is no web address: %v", err)
	}
	rec.Status = StatusRefunded
	if _, _, _, err := Ship(rec, req, now, true); ErrorCode(err) != ECONFLICT {
		t.Errorf("a refunded order: %v", err)
	}
}
