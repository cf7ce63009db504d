package payments_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/payments"
)

// payingStripe is Stripe while the buyer is paying: it will not expire a
// session, as Stripe answers for one that is no longer open.
type payingStripe struct {
	*stripeFake
	asked atomic.Int32
}

func (p *payingStripe) ExpireCheckoutSession(context.Context, string) error {
	p.asked.Add(1)
	return &caisse.StripeError{Status: 400, Type: "invalid_request_error",
		Message: `Only Checkout Sessions with a status in ["open"] can be expired.`}
}

// A checkout Stripe will not expire (its buyer is paying it) is not
// replaced: it keeps its units and counts toward its client's limit, and
// cannot be cancelled. Once the sweep closes it, the client holds nothing.
func TestCheckoutStripeWillNotExpireIsKept(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		clk := &clock{now: time.Now().UTC()}
		stripe := &payingStripe{stripeFake: newStripeFake(clk.Now)}
		b := openShop(t, kind.NewURL(t), func(j *payments.Jobs) {
			j.Stripe = stripe
			j.CheckoutLimits.MaxUnits = 2
		}, func(s *sqlstore.Store) {
			s.Now, s.Rules.Now = clk.Now, clk.Now
		})
		ctx := context.Background()
		for id, stock := range map[string]int64{"art": 1, "print": 5} {
			if _, err := b.PutProduct(ctx, id, caisse.NewProductUpdate(id, 1000, "eur", stock)); err != nil {
				t.Fatal(err)
			}
		}
		req := func(items ...caisse.Item) caisse.CheckoutRequest {
			return caisse.CheckoutRequest{Items: items, Client: "addr:203.0.113.5",
				SuccessURL: "https://shop.example/ok", CancelURL: "https://shop.example/cart"}
		}
		first, err := b.jobs.Checkout(ctx, req(caisse.Item{ProductID: "art", Quantity: 1}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.jobs.Checkout(ctx, req(caisse.Item{ProductID: "art", Quantity: 1}, caisse.Item{ProductID: "print", Quantity: 1}))
		var e *caisse.Error
		if !errors.As(err, &e) || e.Reason != caisse.ReasonTooManyHeld {
			t.Fatalf("a checkout that would hold 3 with the one kept: %v", err)
		}
		// Each of the two asked Stripe to expire the first, and was refused.
		_, err = b.jobs.Checkout(ctx, req(caisse.Item{ProductID: "art", Quantity: 1}))
		if !errors.As(err, &e) || e.Reason != caisse.ReasonNotAvailable || stripe.asked.Load() != 2 {
			t.Fatalf("replacing a checkout Stripe will not expire: %v (Stripe asked %d times)", err, stripe.asked.Load())
		}
		if p, _ := b.FindProduct(ctx, "art"); p.Reserved != 1 {
			t.Fatalf("the kept checkout's unit: %+v", p)
		}
		if _, err := b.jobs.CancelCheckout(ctx, first.OrderID); !errors.As(err, &e) || e.Reason != caisse.ReasonAlreadyPaid {
			t.Fatalf("cancelling it: %v", err)
		}
		if p, _ := b.FindProduct(ctx, "art"); p.Reserved != 1 {
			t.Fatalf("the unit after the refused cancel: %+v", p)
		}
		// Its time is up: the sweep closes it.
		clk.Add(2 * time.Hour)
		if n, err := b.Store.SweepCheckouts(ctx, b.jobs.CheckoutGrace); err != nil || n != 1 {
			t.Fatalf("the sweep closed %d checkouts (%v), want 1", n, err)
		}
		if p, _ := b.FindProduct(ctx, "art"); p.Reserved != 0 {
			t.Fatalf("the unit after the sweep: %+v", p)
		}
		if _, err := b.jobs.Checkout(ctx, req(caisse.Item{ProductID: "print", Quantity: 2})); err != nil {
			t.Fatalf("after the sweep, the client holds nothing: %v", err)
		}
	})
}
