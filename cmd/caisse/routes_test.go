package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	caissehttp "github.com/caisse/caisse/http"
	"github.com/caisse/caisse/stripe"
)

// logLines returns the app's log lines whose message contains msg.
func (a *app) logLines(msg string) []map[string]any {
	a.t.Helper()
	var out []map[string]any
	for line := range strings.Lines(a.logs.String()) {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			continue
		}
		if m, _ := l["msg"].(string); strings.Contains(m, msg) {
			out = append(out, l)
		}
	}
	return out
}

// A Stripe endpoint configured with a trailing slash receives events like
// one without; a webhook posted to a path caisse does not listen on gets its
// 404 and a warning naming the path and caisse's webhook routes.
func TestWebhookPathWithTrailingSlash(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		var ids []string
		for _, path := range caissehttp.WebhookPaths {
			id := stripe.NewID("evt")
			payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.expired", EventID: id, OrderID: stripe.NewID("o")})
			if status, body := a.post(path+"/", payload, sign(payload, testSecret, time.Now())); status != http.StatusOK {
				t.Fatalf("POST %s/: %d %s", path, status, body)
			}
			ids = append(ids, id)
		}
		for id, s := range a.wait(ids...) {
			if s != caisse.EventProcessed {
				t.Errorf("event %s: %s", id, s)
			}
		}
		const warning = "a webhook was posted to a path caisse does not listen on"
		if l := a.logLines(warning); len(l) != 0 {
			t.Fatalf("warnings for webhooks that were received: %v", l)
		}

		payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.expired", OrderID: "o1"})
		for path, signed := range map[string]bool{
			"/webhook/stripe":       true,  // a typo, signed
			"/stripe":               true,  // any path, signed
			"/webhooks/stripe/test": false, // a path that says webhook, unsigned
		} {
			sig := ""
			if signed {
				sig = sign(payload, testSecret, time.Now())
			}
			if status, _ := a.post(path, payload, sig); status != http.StatusNotFound {
				t.Errorf("POST %s: %d, want 404", path, status)
			}
			var found bool
			for _, l := range a.logLines(warning) {
				if l["path"] == path {
					found = true
					if l["level"] != "WARN" || !strings.Contains(l["routes"].(string), "/webhooks/stripe") {
						t.Errorf("warning for %s: %v", path, l)
					}
				}
			}
			if !found {
				t.Errorf("no warning for a webhook posted to %s:\n%s", path, a.logs.String())
			}
		}
		// An ordinary 404 is not a webhook.
		if status, _ := a.post("/favicon.ico", nil, ""); status != http.StatusNotFound {
			t.Errorf("POST /favicon.ico: %d", status)
		}
		if res, err := http.Get(a.url + "/webhook-docs"); err != nil || res.StatusCode != http.StatusNotFound {
			t.Errorf("GET /webhook-docs: %v", err)
		} else {
			res.Body.Close()
		}
		if n := len(a.logLines(warning)); n != 3 {
			t.Errorf("%d warnings, want one per webhook posted to a wrong path", n)
		}
		if n := a.eventCount(); n != len(caissehttp.WebhookPaths) {
			t.Errorf("%d events stored, want %d", n, len(caissehttp.WebhookPaths))
		}
	})
}
