package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// Each handled event type, end to end: delivered over HTTP, processed by the
// workers, visible in the admin API with the right status and stock.
func TestEventTypesEndToEnd(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		type step struct {
			ex     stripe.Example
			status caisse.OrderStatus
			stock  int64 // product stock after the step
			held   int64 // product reserved units after the step
		}
		ex := func(typ string, edit ...func(*stripe.Example)) stripe.Example {
			e := stripe.Example{Type: typ, ProductID: "tee", Quantity: 2, Amount: 5000}
			for _, f := range edit {
				f(&e)
			}
			return e
		}
		unpaid := func(e *stripe.Example) { e.Unpaid = true }
		refunded := func(n int64) func(*stripe.Example) { return func(e *stripe.Example) { e.Refunded = n } }
		dispute := func(s string) func(*stripe.Example) { return func(e *stripe.Example) { e.DisputeStatus = s } }
		tests := map[string][]step{
			"paid by card, partly then fully refunded": {
				{ex("checkout.session.completed"), caisse.StatusPaid, 8, 0},
				{ex("payment_intent.succeeded"), caisse.StatusPaid, 8, 0},
				{ex("charge.refunded", refunded(1000)), caisse.StatusPartiallyRefunded, 8, 0},
				{ex("charge.refunded", refunded(5000)), caisse.StatusRefunded, 10, 0},
			},
			"delayed method that succeeds": {
				{ex("checkout.session.completed", unpaid), caisse.StatusAwaitingPayment, 10, 2},
				{ex("checkout.session.async_payment_succeeded"), caisse.StatusPaid, 8, 0},
			},
			"delayed method that fails": {
				{ex("checkout.session.completed", unpaid), caisse.StatusAwaitingPayment, 10, 2},
				{ex("payment_intent.payment_failed"), caisse.StatusAwaitingPayment, 10, 2},
				{ex("checkout.session.async_payment_failed"), caisse.StatusPaymentFailed, 10, 0},
			},
			"abandoned checkout": {
				{ex("checkout.session.expired"), caisse.StatusExpired, 10, 0},
			},
			"payment intent alone": {
				{ex("payment_intent.succeeded"), caisse.StatusPaid, 8, 0},
			},
			"declined card then paid": {
				{ex("payment_intent.payment_failed"), caisse.StatusPending, 10, 0},
				{ex("checkout.session.completed"), caisse.StatusPaid, 8, 0},
			},
			"dispute won": {
				{ex("checkout.session.completed"), caisse.StatusPaid, 8, 0},
				{ex("charge.dispute.created"), caisse.StatusDisputed, 8, 0},
				{ex("charge.dispute.updated", dispute("under_review")), caisse.StatusDisputed, 8, 0},
				{ex("charge.dispute.closed", dispute("won")), caisse.StatusPaid, 8, 0},
			},
			"dispute lost": {
				{ex("checkout.session.completed"), caisse.StatusPaid, 8, 0},
				{ex("charge.dispute.created"), caisse.StatusDisputed, 8, 0},
				{ex("charge.dispute.closed", dispute("lost")), caisse.StatusDisputeLost, 8, 0},
				// A late created event never reopens a closed dispute.
				{ex("charge.dispute.created"), caisse.StatusDisputeLost, 8, 0},
			},
		}
		for name, steps := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				a := setup(t, db)
				a.putProduct("tee", 10)
				order := "ord_" + strings.ReplaceAll(name, " ", "_")
				for i, s := range steps {
					s.ex.OrderID = order
					a.process(s.ex)
					o := a.order(order)
					p := a.product("tee")
					if o.Status != s.status || p.Stock != s.stock || p.Reserved != s.held {
						t.Fatalf("step %d (%s): order %s stock %d reserved %d, want %s stock %d reserved %d",
							i, s.ex.Type, o.Status, p.Stock, p.Reserved, s.status, s.stock, s.held)
					}
				}
			})
		}
	})
}

func TestPaymentFailureIsRecorded(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putProduct("tee", 1)
		a.process(stripe.Example{Type: "payment_intent.payment_failed", OrderID: "o1", ProductID: "tee"})
		o := a.order("o1")
		if o.PaymentError != "Your card has insufficient funds." || o.Status != caisse.StatusPending {
			t.Fatalf("order %s with payment error %q", o.Status, o.PaymentError)
		}
	})
}

func TestLinkAppearsLater(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putProduct("tee", 5)
		// The refund arrives first and names only its payment intent; the payment
		// intent carries no order id either. Nothing can be linked yet.
		a.process(
			stripe.Example{Type: "charge.refunded", OrderID: "o1", PaymentIntent: "pi_x", Amount: 2500, Refunded: 2500},
			stripe.Example{Type: "payment_intent.succeeded", OrderID: "o1", PaymentIntent: "pi_x", Amount: 2500, NoMetadata: true},
		)
		if s := a.admin(http.MethodGet, "/api/admin/orders/o1", nil, nil); s != http.StatusNotFound {
			t.Fatalf("an order appeared before anything linked it: %d", s)
		}
		// The session names the order and the payment intent: everything applies.
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", PaymentIntent: "pi_x", ProductID: "tee", Amount: 2500})
		o := a.order("o1")
		if o.Status != caisse.StatusRefunded || o.AmountRefunded != 2500 || o.PaymentIntent != "pi_x" {
			t.Fatalf("order %+v", o)
		}
		if p := a.product("tee"); p.Stock != 5 {
			t.Fatalf("stock %d after a refunded order, want 5", p.Stock)
		}
	})
}

func TestDuplicateDelivery(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putProduct("tee", 5)
		payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", EventID: "evt_dup", OrderID: "o1", ProductID: "tee"})
		for range 3 {
			a.deliver(payload)
		}
		a.wait("evt_dup")
		if e := a.event("evt_dup"); e.Attempts != 1 || e.Status != caisse.EventProcessed {
			t.Fatalf("one event delivered three times was applied %d times (%s)", e.Attempts, e.Status)
		}
		// Replaying a processed event changes nothing either.
		a.forget("evt_dup")
		if s := a.admin(http.MethodPost, "/api/admin/events/evt_dup/replay", nil, nil); s != http.StatusAccepted {
			t.Fatalf("replay: %d", s)
		}
		a.wait("evt_dup")
		if n := a.eventCount(); n != 1 {
			t.Fatalf("%d events stored, want 1", n)
		}
		if p := a.product("tee"); p.Stock != 4 {
			t.Fatalf("stock %d, want 4: a duplicate was applied twice", p.Stock)
		}
		if o := a.order("o1"); len(o.Timeline) != 1 {
			t.Fatalf("timeline %+v, want one entry", o.Timeline)
		}
	})
}

func TestUnknownTypeIsIgnored(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		payload := []byte(`{"id":"evt_cust","object":"event","type":"customer.created","created":1700000000,"livemode":false,"api_version":"2024-06-20","data":{"object":{"id":"cus_1","object":"customer"}}}`)
		a.deliver(payload)
		if s := a.wait("evt_cust")["evt_cust"]; s != caisse.EventIgnored {
			t.Fatalf("status %s, want ignored", s)
		}
		if e := a.event("evt_cust"); e.Status != caisse.EventIgnored || e.APIVersion != "2024-06-20" {
			t.Fatalf("event %+v", e)
		}
	})
}

// Every webhook rejection of docs/interface.md: its status code, a log line that says why,
// and nothing stored.
func TestRejections(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db, func(env map[string]string) { env["CAISSE_LIVEMODE"] = "test" })
		good, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", OrderID: "o1"})
		live, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", Livemode: true})
		now := time.Now()
		big := bytes.Repeat([]byte(" "), 1<<20+1)
		tests := []struct {
			name, method, path string
			body               []byte
			sig                string
			status             int
			log                string
		}{
			{"missing signature", "POST", "/webhooks/stripe", good, "", 400, "missing_signature"},
			{"wrong secret", "POST", "/webhooks/stripe", good, sign(good, "whsec_other", now), 400, "signature_mismatch"},
			{"tampered body", "POST", "/api/webhook", append(bytes.Clone(good), ' '), sign(good, testSecret, now), 400, "signature_mismatch"},
			{"stale timestamp", "POST", "/webhooks/stripe", good, sign(good, testSecret, now.Add(-6*time.Minute)), 400, "timestamp_too_old"},
			{"future timestamp", "POST", "/webhooks/stripe", good, sign(good, testSecret, now.Add(6*time.Minute)), 400, "timestamp_in_future"},
			{"v0 only", "POST", "/webhooks/stripe", good, strings.Replace(sign(good, testSecret, now), "v1=", "v0=", 1), 400, "no_v1_signature"},
			{"malformed header", "POST", "/webhooks/stripe", good, "garbage", 400, "malformed_signature_header"},
			{"malformed JSON", "POST", "/webhooks/stripe", []byte("{not json"), sign([]byte("{not json"), testSecret, now), 400, "not valid JSON"},
			{"not an event", "POST", "/webhooks/stripe", []byte(`{"object":"charge","id":"ch_1"}`), sign([]byte(`{"object":"charge","id":"ch_1"}`), testSecret, now), 400, "not a Stripe event"},
			{"thin event", "POST", "/webhooks/stripe", []byte(`{"object":"v2.core.event","id":"evt_1"}`), sign([]byte(`{"object":"v2.core.event","id":"evt_1"}`), testSecret, now), 400, "thin"},
			{"wrong mode", "POST", "/api/webhooks/stripe", live, sign(live, testSecret, now), 400, "wrong_mode"},
			{"too large", "POST", "/webhooks/stripe", big, sign(big, testSecret, now), 413, "too_large"},
			{"wrong method", "GET", "/webhooks/stripe", nil, "", 405, "wrong_method"},
		}
		for _, tt := range tests {
			before := len(a.logs.String())
			req, _ := http.NewRequest(tt.method, a.url+tt.path, bytes.NewReader(tt.body))
			if tt.sig != "" {
				req.Header.Set("Stripe-Signature", tt.sig)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Errorf("%s: status %d, want %d", tt.name, res.StatusCode, tt.status)
			}
			if logged := a.logs.String()[before:]; !strings.Contains(logged, tt.log) || !strings.Contains(logged, "webhook refused") {
				t.Errorf("%s: log does not say why (%q): %s", tt.name, tt.log, logged)
			}
		}
		if n := a.eventCount(); n != 0 {
			t.Fatalf("%d events stored from rejected deliveries", n)
		}
		if strings.Contains(a.logs.String(), testSecret) || strings.Contains(a.logs.String(), "v1=") {
			t.Fatal("a secret or a signature was logged")
		}
	})
}

func TestSecretRotation(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db, func(env map[string]string) { env["STRIPE_WEBHOOK_SECRET"] = "whsec_old_one," + testSecret })
		payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.expired", EventID: "evt_rot", OrderID: "o1"})
		if s, body := a.post("/webhooks/stripe", payload, sign(payload, "whsec_old_one", time.Now())); s != 200 {
			t.Fatalf("old secret: %d %s", s, body)
		}
		if s, body := a.post("/webhooks/stripe", payload, sign(payload, testSecret, time.Now())); s != 200 {
			t.Fatalf("new secret: %d %s", s, body)
		}
	})
}

func TestAdminAuth(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken, testToken} {
			req, _ := http.NewRequest(http.MethodGet, a.url+"/api/admin/orders", nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("Authorization %q: %d, want 401", auth, res.StatusCode)
			}
		}
		off := setup(t, db, func(env map[string]string) { env["CAISSE_ADMIN_TOKEN"] = "" })
		if s := off.admin(http.MethodGet, "/api/admin/orders", nil, nil); s != http.StatusNotFound {
			t.Errorf("admin API with no token configured: %d, want 404", s)
		}
	})
}

func TestProbesAndMetrics(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.process(stripe.Example{Type: "checkout.session.expired", OrderID: "o1"})
		a.post("/webhooks/stripe", []byte("{}"), "")
		for _, path := range []string{"/healthz", "/readyz"} {
			res, err := http.Get(a.url + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("%s: %d", path, res.StatusCode)
			}
		}
		res, err := http.Get(a.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		for _, want := range []string{
			`caisse_webhook_requests_total{outcome="stored"} 1`,
			`caisse_webhook_requests_total{outcome="bad_signature"} 1`,
			`caisse_events_processed_total{status="processed",type="checkout.session.expired"} 1`,
			`caisse_event_processing_seconds_count 1`,
			`caisse_events{status="pending"} 0`,
			`caisse_events{status="failed"} 0`,
			`caisse_oldest_pending_event_age_seconds 0`,
			`caisse_queue_depth 0`,
			`caisse_dead_letters 0`,
		} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// An account on an old API version works: caisse reads the fields it needs
// from the raw JSON and records the version.
func TestAnyAPIVersion(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putProduct("tee", 10)
		for _, v := range []string{"2019-12-03", "2024-06-20", "2025-10-29.clover", "2026-01-28.preview"} {
			order := "o-" + v
			id := a.send(stripe.Example{Type: "checkout.session.completed", OrderID: order, ProductID: "tee", APIVersion: v})
			if s := a.wait(id)[id]; s != caisse.EventProcessed {
				t.Fatalf("API version %s: event %s", v, s)
			}
			if o := a.order(order); o.Status != caisse.StatusPaid {
				t.Fatalf("API version %s: order %s", v, o.Status)
			}
			if e := a.event(id); e.APIVersion != v {
				t.Fatalf("recorded api_version %q, want %q", e.APIVersion, v)
			}
		}
	})
}
