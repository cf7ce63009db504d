package payments_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/poll"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/payments"
	"github.com/caisse/caisse/stripe"
)

// clock is a time the test moves forward.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A checkout whose session expires without any event has its units
// released by the periodic sweep, once the grace period is over; a checkout
// paid in time keeps its unit. A small fake of Stripe's API stands in for
// Stripe, with the test's clock.
func TestSweepReleasesExpiredCheckouts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		clk := &clock{now: time.Now().UTC()}
		fake := newStripeFake(clk.Now)
		b := openShop(t, kind.NewURL(t), func(j *payments.Jobs) {
			j.SweepEvery = 20 * time.Millisecond
			j.CheckoutGrace = 5 * time.Minute
			j.Stripe = fake
		}, func(s *sqlstore.Store) {
			s.Now = clk.Now
			s.Rules.Now = clk.Now
		})
		ctx := context.Background()
		for _, id := range []string{"lost", "paid"} {
			if _, err := b.PutProduct(ctx, id, caisse.NewProductUpdate(id, 1000, "eur", 1)); err != nil {
				t.Fatal(err)
			}
		}
		req := func(product string) caisse.CheckoutRequest {
			return caisse.CheckoutRequest{Items: []caisse.Item{{ProductID: product, Quantity: 1}},
				SuccessURL: "https://shop.example/ok", CancelURL: "https://shop.example/cart"}
		}
		lost, err := b.jobs.Checkout(ctx, req("lost"))
		if err != nil {
			t.Fatal(err)
		}
		paid, err := b.jobs.Checkout(ctx, req("paid"))
		if err != nil {
			t.Fatal(err)
		}
		b.receive(t, stripe.Example{Type: "checkout.session.completed", EventID: "evt_paid", OrderID: paid.OrderID, ProductID: "paid", Amount: 1000})
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		b.waitProcessed(t, "evt_paid")
		reserved := func(id string) int64 {
			p, err := b.FindProduct(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return p.Reserved
		}
		// Expired, but within the grace period: Stripe's event may still come.
		clk.Add(time.Until(lost.ExpiresAt) + time.Minute)
		if n, err := b.Store.SweepCheckouts(ctx, b.jobs.CheckoutGrace); err != nil || n != 0 || reserved("lost") != 1 {
			t.Fatalf("within the grace period: swept %d (%v), reserved %d", n, err, reserved("lost"))
		}
		clk.Add(10 * time.Minute)
		// The periodic sweep (every 20 ms here) releases it.
		poll.Until(t, time.Minute, func() error {
			if n := reserved("lost"); n != 0 {
				return fmt.Errorf("the sweep never released the expired checkout's unit: %d reserved", n)
			}
			return nil
		})
		if p, _ := b.FindProduct(ctx, "lost"); p.Available != 1 || p.Stock != 1 {
			t.Fatalf("after the sweep: %+v", p)
		}
		if p, _ := b.FindProduct(ctx, "paid"); p.Stock != 0 || p.Reserved != 0 {
			t.Fatalf("the paid checkout's unit: %+v", p)
		}
		if o, err := b.FindOrder(ctx, paid.OrderID); err != nil || o.Status != caisse.StatusPaid {
			t.Fatalf("the paid order: %+v %v", o, err)
		}
		// The unit is for sale again.
		if _, err := b.jobs.Checkout(ctx, req("lost")); err != nil {
			t.Fatalf("a new checkout after the sweep: %v", err)
		}
	})
}
