package main

import (
	"flag"
	"net/http"
	"strings"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// fraudRefunds are the refunds caisse asked of Stripe on a fraud warning.
func fraudRefunds(fake *stripemock.Fake) []stripemock.Request {
	var out []stripemock.Request
	for _, r := range refundRequests(fake) {
		if strings.HasPrefix(r.IdempotencyKey, "refund:fraud:") {
			out = append(out, r)
		}
	}
	return out
}

// An early fraud warning on a paid order's payment is recorded on the
// order (its JSON, its timeline, its page) and the team is told which
// order, how much and what the issuer reported, never who paid. Under
// CAISSE_FRAUD_POLICY=flag nothing is refunded; under refund, the payment
// is refunded once, however often the warning comes and whether it comes
// before the payment, and the unit is back in stock when Stripe's
// charge.refunded arrives.
func TestEarlyFraudWarning(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		for _, policy := range []string{"flag", "refund"} {
			t.Run(policy, func(t *testing.T) {
				fake := stripemock.NewFake(t)
				r := startReceivers(t, smtptest.Options{})
				a := setup(t, db, withStripe(fake.URL), r.env, func(env map[string]string) { env["CAISSE_FRAUD_POLICY"] = policy })
				a.putPrice("art", 2500, 1)
				order := "order-fraud"
				fake.AddPaymentIntent("pi_"+order, 2500, "eur")
				ex := stripe.Example{OrderID: order, ProductID: "art", Amount: 2500, Email: "holder@example.com", FraudType: "made_with_stolen_card"}
				paid, warned := ex, ex
				paid.Type, warned.Type = "checkout.session.completed", "radar.early_fraud_warning.created"
				warned.EventID = stripe.NewID("evt")
				warning := build(t, warned, nil)
				if policy == "flag" {
					a.process(paid)
					a.deliverAndWait(warning)
				} else {
					// The warning comes before the payment it is about.
					if ev := a.deliverAndWait(warning); ev.Status != caisse.EventProcessed {
						t.Fatalf("the warning's event: %+v", ev)
					}
					a.process(paid)
				}
				// The same warning again, and a replay.
				a.forget(warned.EventID)
				a.deliver(warning)
				if s := a.admin(http.MethodPost, "/api/admin/events/"+warned.EventID+"/replay", nil, nil); s != http.StatusAccepted {
					t.Fatalf("replay: %d", s)
				}
				a.wait(warned.EventID)

				o := a.order(order)
				w := o.FraudWarning
				if w == nil || w.ID != "issfr_"+order || w.FraudType != "made_with_stolen_card" || w.Charge != "ch_"+order || w.At.IsZero() ||
					o.Status != caisse.StatusPaid {
					t.Fatalf("the order after the warning: %+v, warning %+v", o, w)
				}
				var noted int
				for _, e := range o.Timeline {
					if strings.Contains(e.Note, "early fraud warning") && strings.Contains(e.Note, "made_with_stolen_card") {
						noted++
					}
				}
				if noted != 1 {
					t.Errorf("timeline entries noting the warning: %d, want 1: %+v", noted, o.Timeline)
				}
				a.until("the alert sent", a.drained)
				var alerts []string
				for _, req := range r.slack.requests() {
					if text := slackText(t, req); strings.Contains(text, "fraud") {
						alerts = append(alerts, text)
					}
				}
				if len(alerts) != 1 || !strings.Contains(alerts[0], order) || !strings.Contains(alerts[0], "made_with_stolen_card") ||
					!strings.Contains(alerts[0], "25.00") || strings.Contains(alerts[0], "holder@example.com") || strings.Contains(alerts[0], "Camille") {
					t.Errorf("fraud alerts: %q, want one naming the order, the amount and the fraud type, and nobody", alerts)
				}
				client, _ := signedInClient(t, a)
				if status, page := get(t, client, a.url+"/admin/orders/"+order); status != http.StatusOK ||
					!strings.Contains(page, `id="fraud-warning"`) || !strings.Contains(page, "made_with_stolen_card") {
					t.Errorf("the order page (%d) does not show the warning", status)
				}

				if out, err := a.cli("orders", "show", order); err != nil || !strings.Contains(out, "fraud warning") || !strings.Contains(out, "made_with_stolen_card on ch_"+order) {
					t.Errorf("caisse orders show: %v\n%s", err, out)
				}
				if policy == "flag" {
					if refunds := refundRequests(fake); len(refunds) != 0 {
						t.Errorf("refunds asked under the flag policy: %+v", refunds)
					}
					if p := a.product("art"); p.Stock != 0 {
						t.Errorf("the artwork: %+v", p)
					}
					return
				}
				a.until("the refund recorded on the order", func() bool { return a.order(order).FraudRefund != "" })
				refunds := fraudRefunds(fake)
				if len(refunds) != 1 || refunds[0].IdempotencyKey != "refund:fraud:ch_"+order || refunds[0].Form.Get("payment_intent") != "pi_"+order ||
					refunds[0].Form.Get("reason") != "fraudulent" || refunds[0].Form.Get("metadata[order_id]") != order {
					t.Fatalf("refund requests: %+v", refunds)
				}
				if len(refundRequests(fake)) != 1 {
					t.Fatalf("refund requests in all: %+v", refundRequests(fake))
				}
				// Stripe's charge.refunded arrives: the unit is back.
				refunded := ex
				refunded.Type = "charge.refunded"
				a.process(refunded)
				if o := a.order(order); o.Status != caisse.StatusRefunded || o.AmountRefunded != 2500 {
					t.Errorf("after the refund's event: %+v", o)
				}
				if p := a.product("art"); p.Stock != 1 {
					t.Errorf("the artwork after the refund: %+v", p)
				}
				// No more requests after the refund's event.
				a.until("the deliveries settled", a.drained)
				if n := len(refundRequests(fake)); n != 1 {
					t.Errorf("%d refund requests, want 1", n)
				}
			})
		}
	})
}

// CAISSE_FRAUD_POLICY is read at start: flag by default, refund only with
// a secret key to ask Stripe with, and anything else refused naming the
// variable.
func TestFraudPolicyIsValidated(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (Config, error) {
		env["STRIPE_WEBHOOK_SECRET"] = testSecret
		cfg, _, err := LoadConfig(func(k string) string { return env[k] }, nil, nil)
		return cfg, err
	}
	if cfg, err := load(map[string]string{}); err != nil || cfg.RefundFraud {
		t.Errorf("default: %+v, %v; want flag", cfg.RefundFraud, err)
	}
	if cfg, err := load(map[string]string{"CAISSE_FRAUD_POLICY": "refund", "STRIPE_SECRET_KEY": "sk_test_123"}); err != nil || !cfg.RefundFraud {
		t.Errorf("refund with a key: %+v, %v", cfg.RefundFraud, err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	env := func(k string) string { return map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret}[k] }
	if cfg, _, err := LoadConfig(env, fs, []string{"--fraud-policy", "refund", "--stripe-secret-key", "sk_test_123"}); err != nil || !cfg.RefundFraud {
		t.Errorf("--fraud-policy refund: %+v, %v", cfg.RefundFraud, err)
	}
	for env, want := range map[string]string{
		"CAISSE_FRAUD_POLICY=refund": "CAISSE_FRAUD_POLICY (--fraud-policy): refund needs STRIPE_SECRET_KEY",
		"CAISSE_FRAUD_POLICY=ignore": "CAISSE_FRAUD_POLICY",
	} {
		k, v, _ := strings.Cut(env, "=")
		if _, err := load(map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", env, err, want)
		}
	}
}
