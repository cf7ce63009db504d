package payments_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/payments"
)

var paths = []string{"/webhooks/stripe", "/api/webhook"}

func TestEvaluateEndpoints(t *testing.T) {
	t.Parallel()
	all := caisse.HandledTypes
	deaf := slices.DeleteFunc(slices.Clone(all), func(t string) bool { return strings.HasPrefix(t, "charge.dispute.") })
	ep := func(id, u, status string, events ...string) caisse.WebhookEndpoint {
		return caisse.WebhookEndpoint{ID: id, URL: u, Status: status, EnabledEvents: events}
	}
	for _, tt := range []struct {
		name      string
		endpoints []caisse.WebhookEndpoint
		host      string
		problem   string
		best      string
		missing   int
	}{
		{"none", nil, "", "missing", "", 0},
		{"another path", []caisse.WebhookEndpoint{ep("we_1", "https://a.example/hook", "enabled", "*")}, "", "missing", "", 0},
		{"disabled", []caisse.WebhookEndpoint{ep("we_1", "https://a.example/webhooks/stripe", "disabled", "*")}, "", "disabled", "", 0},
		{"every type listed, then a deaf one", []caisse.WebhookEndpoint{
			ep("we_1", "https://a.example/webhooks/stripe", "enabled", all...),
			ep("we_2", "https://a.example/api/webhook", "enabled", deaf...)}, "", "", "we_1", 0},
		{"a deaf one, then every type listed", []caisse.WebhookEndpoint{
			ep("we_2", "https://a.example/api/webhook", "enabled", deaf...),
			ep("we_1", "https://a.example/webhooks/stripe/", "enabled", all...)}, "", "", "we_1", 0},
		{"deaf", []caisse.WebhookEndpoint{ep("we_2", "https://a.example/webhooks/stripe", "enabled", deaf...)}, "", "missing_types", "we_2", 3},
		{"the host, any case, default port", []caisse.WebhookEndpoint{ep("we_1", "https://PAY.example:443/webhooks/stripe", "enabled", "*")},
			"pay.example", "", "we_1", 0},
		{"another host", []caisse.WebhookEndpoint{ep("we_1", "https://old.example/webhooks/stripe", "enabled", "*")}, "pay.example", "missing", "", 0},
		{"another port", []caisse.WebhookEndpoint{ep("we_1", "https://pay.example:8443/webhooks/stripe", "enabled", "*")}, "pay.example", "missing", "", 0},
	} {
		rep := payments.EvaluateEndpoints(tt.endpoints, paths, tt.host)
		if rep.Problem != tt.problem || rep.Best.ID != tt.best || len(rep.Missing) != tt.missing || rep.Endpoints != len(tt.endpoints) {
			t.Errorf("%s: %+v, want problem %q, best %q, %d missing", tt.name, rep, tt.problem, tt.best, tt.missing)
		}
	}
}

func TestURLHost(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://Pay.Example.com/x":      "pay.example.com",
		"https://pay.example.com:443/x":  "pay.example.com",
		"http://pay.example.com:80":      "pay.example.com",
		"https://pay.example.com:8443/x": "pay.example.com:8443",
		"http://[::1]:8080/x":            "[::1]:8080",
	} {
		u, _ := url.Parse(raw)
		if got := payments.URLHost(u); got != want {
			t.Errorf("URLHost(%s) = %q, want %q", raw, got, want)
		}
	}
}
