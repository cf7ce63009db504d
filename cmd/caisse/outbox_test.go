package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/stripe"
)

// The owner sees every delivery and what became of it, through the admin
// API and the CLI, and sends a failed one again; the metrics count them.
func TestOperatingTheOutbox(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		// The shop's endpoint refuses its orders' webhooks, for now (it
		// takes those about products: the sold print's).
		orders := func(status int) func(hookRequest, int) int {
			return func(r hookRequest, _ int) int {
				if strings.Contains(string(r.Body), `"type":"product.`) {
					return http.StatusOK
				}
				return status
			}
		}
		r.shop.setAnswer(orders(http.StatusBadRequest))
		a := setup(t, db, r.env)
		a.putPrice("print-1", 90000, 5)
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print-1", Amount: 90000})
		a.until("the webhook failed for good, the rest delivered", func() bool {
			return len(a.deliveriesOf("status=failed")) == 1 && len(a.deliveriesOf("status=pending")) == 0
		})
		failed := a.deliveriesOf("status=failed")[0]
		if failed.Channel != caisse.ChannelWebhook || failed.Topic != caisse.HookOrderPaid || failed.Attempts != 4 ||
			!strings.Contains(failed.LastError, "400") || failed.OrderID != "o1" {
			t.Fatalf("the failed delivery: %+v", failed)
		}
		if l := a.deliveriesOf("channel=email&order=o1"); len(l) != 1 || l[0].Status != caisse.DeliveryDelivered || l[0].Topic != caisse.TopicOrderConfirmation {
			t.Fatalf("the confirmation: %+v", l)
		}
		var bad struct {
			Error struct{ Code, Message string }
		}
		if s := a.admin(http.MethodGet, "/api/admin/outbox?channel=fax", nil, &bad); s != http.StatusBadRequest || !strings.Contains(bad.Error.Message, "email, alert, sanity, webhook or stripe") {
			t.Fatalf("an unknown channel: %d %+v", s, bad)
		}
		// The team heard of it.
		a.until("the alert about the failed webhook", func() bool {
			for _, req := range r.slack.requests() {
				if strings.Contains(slackText(t, req), "delivery failed for good") && strings.Contains(slackText(t, req), failed.ID) {
					return true
				}
			}
			return false
		})

		// The endpoint is fixed; the owner retries through the API, then
		// (for another failure) the CLI.
		r.shop.setAnswer(nil)
		var retried caisse.Delivery
		if s := a.admin(http.MethodPost, "/api/admin/outbox/"+failed.ID+"/retry", nil, &retried); s != http.StatusAccepted ||
			retried.Status != caisse.DeliveryPending || retried.Attempts != 0 {
			t.Fatalf("retry: %d %+v", s, retried)
		}
		a.until("the retried webhook delivered", func() bool {
			var d caisse.Delivery
			a.admin(http.MethodGet, "/api/admin/outbox/"+failed.ID, nil, &d)
			return d.Status == caisse.DeliveryDelivered
		})
		if s := a.admin(http.MethodPost, "/api/admin/outbox/"+failed.ID+"/retry", nil, &bad); s != http.StatusConflict {
			t.Fatalf("retrying a delivered row: %d %+v", s, bad)
		}

		r.shop.setAnswer(orders(http.StatusGone))
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o2", ProductID: "print-1", Amount: 90000})
		// The endpoint gone, every row to it still waiting fails with it.
		a.until("the webhook to the gone endpoint failed", func() bool {
			return len(a.deliveriesOf("status=failed&order=o2")) >= 1 && len(a.deliveriesOf("status=pending&channel=webhook")) == 0
		})
		gone := len(a.deliveriesOf("status=failed"))
		out, err := a.cli("outbox", "list", "--status", "failed")
		if err != nil || !strings.Contains(out, "order.paid") || !strings.Contains(out, "410") {
			t.Fatalf("outbox list --status failed: %v\n%s", err, out)
		}
		r.shop.setAnswer(nil)
		out, err = a.cli("outbox", "retry", "--failed", "--json")
		var res struct{ Retried []string }
		if err != nil || json.Unmarshal([]byte(out), &res) != nil || len(res.Retried) != gone {
			t.Fatalf("outbox retry --failed: %v\n%s", err, out)
		}
		a.until("everything delivered", func() bool { return len(a.deliveriesOf("status=failed")) == 0 && a.drained() })
		if _, err := a.cli("outbox", "list", "--status", "lost"); err == nil || !strings.Contains(err.Error(), "pending, delivered, failed or skipped") {
			t.Fatalf("outbox list --status lost: %v", err)
		}

		for _, want := range []string{`caisse_deliveries_total{channel="webhook",outcome="retry"}`, `caisse_deliveries_total{channel="webhook",outcome="failed"}`,
			`caisse_deliveries_total{channel="email",outcome="delivered"}`, `caisse_outbox{status="pending"}`, "caisse_outbox_oldest_pending_age_seconds"} {
			if !strings.Contains(a.metrics(), want) {
				t.Errorf("the metrics lack %s", want)
			}
		}
	})
}

// caisse notify test sends one test message on each channel that is set
// up, and says which worked and why the others did not.
func TestNotifyTest(t *testing.T) {
	t.Parallel()
	r := startReceivers(t, smtptest.Options{})
	r.sanity.AddDocument("caisse-notify-test")
	env := map[string]string{}
	r.env(env)
	env["CAISSE_ALERT_EMAIL"] = "team@lune.example"
	a := &app{t: t, env: env}
	out, err := a.cli("notify", "test")
	if err != nil {
		t.Fatalf("notify test: %v\n%s", err, out)
	}
	for _, want := range []string{"email", "team@lune.example", "alert", "slack", "sanity", "webhook", r.shop.url + "/hooks/caisse"} {
		if !strings.Contains(out, want) {
			t.Errorf("notify test does not name %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAILED") || strings.Contains(out, "shop-endpoint-token") || strings.Contains(out, "secretpart") {
		t.Fatalf("notify test:\n%s", out)
	}
	if m := r.mail.Only(t); m.To[0] != "team@lune.example" {
		t.Errorf("the test email went to %v", m.To)
	}
	if n := len(r.slack.requests()); n != 1 {
		t.Errorf("%d test alerts posted, want 1", n)
	}
	if n := len(r.shop.requests()); n != 1 || verifyStandardWebhook(notifySecret, r.shop.requests()[0].Header, r.shop.requests()[0].Body) != nil {
		t.Errorf("the shop's endpoint got %d test messages, or one that does not verify", n)
	}

	// The Slack webhook refuses: the command says so and fails.
	r.slack.setAnswer(func(hookRequest, int) int { return http.StatusForbidden })
	out, err = a.cli("notify", "test")
	if err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(err.Error(), "1 of 4 channels failed") {
		t.Fatalf("notify test with a refusing webhook: %v\n%s", err, out)
	}
	if _, err := (&app{t: t, env: map[string]string{}}).cli("notify", "test"); err == nil || !strings.Contains(err.Error(), "no channel is set up") {
		t.Fatalf("notify test with nothing set up: %v", err)
	}
}

// A burst of deliveries signed with another secret is one alert, saying to
// check STRIPE_WEBHOOK_SECRET.
func TestBadSignaturesAreAlerted(t *testing.T) {
	t.Parallel()
	r := startReceivers(t, smtptest.Options{})
	a := setup(t, sqliteDB, r.env)
	payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", OrderID: "o1"})
	for range 15 {
		if s, _ := a.post("/webhooks/stripe", payload, sign(payload, "whsec_another_secret_0123456789", time.Now())); s != http.StatusBadRequest {
			t.Fatalf("a delivery signed with another secret: %d", s)
		}
	}
	a.until("the alert", func() bool { return len(r.slack.requests()) > 0 && a.drained() })
	reqs := r.slack.requests()
	if len(reqs) != 1 || !strings.Contains(slackText(t, reqs[0]), "STRIPE_WEBHOOK_SECRET") {
		t.Fatalf("alerts: %d, want one naming STRIPE_WEBHOOK_SECRET", len(reqs))
	}
}
