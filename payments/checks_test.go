package payments_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/payments"
	"github.com/caisse/caisse/stripe"
)

func alerts(t *testing.T, b *shop, topic string) []*caisse.Delivery {
	t.Helper()
	l, _, err := b.FindDeliveries(context.Background(), caisse.DeliveryFilter{Channel: caisse.ChannelAlert, Page: caisse.Page{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*caisse.Delivery
	for _, d := range l {
		if d.Topic == topic {
			out = append(out, d)
		}
	}
	return out
}

// No event for CAISSE_ALERT_SILENCE while checkouts are opened: the team
// hears of it, once a day; silence with no checkout is no news.
func TestSilenceIsAlerted(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		clk := &clock{now: time.Now().UTC()}
		fake := newStripeFake(clk.Now)
		b := openShop(t, kind.NewURL(t), func(j *payments.Jobs) {
			j.AlertSilence = 24 * time.Hour
			j.Stripe = fake
		}, func(s *sqlstore.Store) {
			s.Now, s.Rules.Now = clk.Now, clk.Now
			s.Outbox = caisse.Recipients{Alerts: []string{caisse.RecipientSlack}}
		})
		ctx := context.Background()
		fake.setEndpoints(caisse.WebhookEndpoint{ID: "we_1", URL: "https://shop.example/webhooks/stripe", Status: "enabled",
			EnabledEvents: []string{"*"}})
		b.jobs.WebhookPaths = []string{"/webhooks/stripe"}
		b.receive(t, stripe.Example{Type: "checkout.session.expired", OrderID: "old"})
		clk.Add(48 * time.Hour)
		if err := b.jobs.RunChecks(ctx); err != nil {
			t.Fatal(err)
		}
		if a := alerts(t, b, caisse.TopicSilence); len(a) != 0 {
			t.Fatalf("silence with no checkout alerted: %+v", a)
		}
		if _, err := b.PutProduct(ctx, "tee", caisse.NewProductUpdate("Tee", 1000, "eur", 5)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.jobs.Checkout(ctx, caisse.CheckoutRequest{Items: []caisse.Item{{ProductID: "tee", Quantity: 1}},
			SuccessURL: "https://shop.example/ok", CancelURL: "https://shop.example/cart"}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := b.jobs.RunChecks(ctx); err != nil {
				t.Fatal(err)
			}
		}
		a := alerts(t, b, caisse.TopicSilence)
		if len(a) != 1 || !strings.Contains(a[0].Payload["text"].(string), "1 checkouts") {
			t.Fatalf("silence alerts %+v, want one saying a checkout was opened", a)
		}
		if a := alerts(t, b, caisse.TopicEndpointProblem); len(a) != 0 {
			t.Fatalf("an enabled endpoint sending everything alerted: %+v", a)
		}
	})
}

// The webhook endpoint is checked periodically: disabled, missing, or deaf
// to a handled type, the team hears of it once a day.
func TestEndpointProblemsAreAlerted(t *testing.T) {
	t.Parallel()
	fake := newStripeFake(time.Now)
	b := openShop(t, dbtest.SQLite.NewURL(t), func(j *payments.Jobs) {
		j.WebhookPaths = []string{"/webhooks/stripe"}
		j.Stripe = fake
	}, func(s *sqlstore.Store) {
		s.Outbox = caisse.Recipients{Alerts: []string{caisse.RecipientSlack}}
	})
	ctx := context.Background()
	for _, tc := range []struct {
		endpoint caisse.WebhookEndpoint
		says     string
	}{
		{caisse.WebhookEndpoint{ID: "we_1", URL: "https://shop.example/webhooks/stripe", Status: "disabled", EnabledEvents: []string{"*"}}, "is disabled"},
		{caisse.WebhookEndpoint{ID: "we_2", URL: "https://shop.example/elsewhere", Status: "enabled", EnabledEvents: []string{"*"}}, "No Stripe webhook endpoint points at caisse"},
		{caisse.WebhookEndpoint{ID: "we_3", URL: "https://shop.example/webhooks/stripe", Status: "enabled",
			EnabledEvents: []string{"checkout.session.completed"}}, "charge.dispute.created"},
	} {
		fake.setEndpoints(tc.endpoint)
		for range 2 {
			if err := b.jobs.RunChecks(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var found int
		for _, a := range alerts(t, b, caisse.TopicEndpointProblem) {
			if strings.Contains(a.Payload["title"].(string)+a.Payload["text"].(string), tc.says) {
				found++
			}
		}
		if found != 1 {
			t.Errorf("endpoint %s: %d alerts saying %q, want 1", tc.endpoint.ID, found, tc.says)
		}
	}
}
