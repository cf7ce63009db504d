package stripe

import (
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/stripemock"
)

// Expiring a session goes to Stripe's expire route (stripe-mock checks it
// against Stripe's spec); no id is an error before any request.
func TestExpireCheckoutSession(t *testing.T) {
	t.Parallel()
	c := NewClient(stripemock.TestKey, stripemock.Start(t), nil)
	if err := c.ExpireCheckoutSession(t.Context(), "cs_test_a1b2c3"); err != nil {
		t.Fatalf("expiring a session on stripe-mock: %v", err)
	}
	if err := c.ExpireCheckoutSession(t.Context(), ""); err == nil {
		t.Fatal("expiring no session: no error")
	}
}

// stripe-mock, which checks each request against Stripe's API, takes a
// payment intent's shipping with its carrier and tracking number, and
// gives a shipping rate.
func TestSetShipmentAndShippingRate(t *testing.T) {
	t.Parallel()
	c := NewClient(stripemock.TestKey, stripemock.Start(t), nil)
	to := caisse.Shipping{Name: "Camille Martin", Phone: "+33 6 12 34 56 78",
		Address: caisse.Address{Line1: "12 rue des Lilas", PostalCode: "69003", City: "Lyon", Country: "FR"}}
	if err := c.SetShipment(t.Context(), "pi_123", to, caisse.Shipment{Carrier: "Colissimo", TrackingNumber: "6A12345678901"}); err != nil {
		t.Fatalf("setting the shipment on stripe-mock: %v", err)
	}
	r, err := c.ShippingRate(t.Context(), "shr_123")
	if err != nil || r.ID == "" {
		t.Fatalf("reading a shipping rate on stripe-mock: %+v, %v", r, err)
	}
}
