package stripe

import (
	"testing"

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
