package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// nonLoopback returns an address of this machine that is not a loopback
// one, or "" when it has none.
func nonLoopback(t *testing.T) string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() && !ip.IP.IsLinkLocalUnicast() {
				return ip.IP.String()
			}
		}
	}
	return ""
}

// scrape asks host:port for /metrics with headers (pairs), and returns the
// status, the WWW-Authenticate header and the body.
func scrape(t *testing.T, host, port string, headers ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/metrics", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

// /metrics tells no stranger the shop's sales: without a metrics token it
// answers this machine only (a client forwarded by a trusted proxy is the
// client it names, not the proxy); with one, only scrapes that bear it.
func TestMetricsAnswerOnlyThisMachineOrTheToken(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		outside := nonLoopback(t)
		if outside == "" {
			// The forwarded requests below still come from non-loopback
			// clients, through the trusted proxy on 127.0.0.1.
			t.Log("this machine has no address but loopback: the non-loopback client is only a forwarded one")
		}
		listen := func(env map[string]string) { env["CAISSE_ADDR"] = "0.0.0.0:0" }

		t.Run("without a token", func(t *testing.T) {
			a := setup(t, db, listen)
			_, port, _ := net.SplitHostPort(a.p.HTTP.Addr())
			if status, _, body := scrape(t, "127.0.0.1", port); status != http.StatusOK || !strings.Contains(body, "caisse_events") {
				t.Fatalf("a loopback scrape answered %d:\n%.300s", status, body)
			}
			// A local client through a local proxy is still local.
			if status, _, _ := scrape(t, "127.0.0.1", port, "X-Forwarded-For", "127.0.0.1"); status != http.StatusOK {
				t.Errorf("a loopback client forwarded by the local proxy answered %d", status)
			}
			refused := map[string][]string{
				"a client forwarded by the trusted proxy":                       {"X-Forwarded-For", "203.0.113.7"},
				"a client that claims loopback, forwarded by the trusted proxy": {"X-Forwarded-For", "127.0.0.1, 203.0.113.7"},
				"a forwarded client caisse cannot read":                         {"X-Forwarded-For", "not-an-address"},
				"a client named by Forwarded, which caisse does not read":       {"Forwarded", "for=203.0.113.7"},
			}
			if outside != "" {
				refused["a client at "+outside] = nil
			}
			for what, headers := range refused {
				host := "127.0.0.1"
				if headers == nil {
					host = outside
				}
				status, _, body := scrape(t, host, port, headers...)
				if status != http.StatusForbidden || !strings.Contains(body, "CAISSE_METRICS_TOKEN") || strings.Contains(body, "caisse_events") {
					t.Errorf("%s answered %d: %s", what, status, body)
				}
			}
		})

		t.Run("with a token", func(t *testing.T) {
			const token = "metrics-token-for-tests-abcdef0123"
			a := setup(t, db, listen, func(env map[string]string) { env["CAISSE_METRICS_TOKEN"] = token })
			_, port, _ := net.SplitHostPort(a.p.HTTP.Addr())
			hosts := []string{"127.0.0.1"}
			if outside != "" {
				hosts = append(hosts, outside)
			}
			for _, host := range hosts {
				for _, auth := range []string{"", "Bearer not-the-metrics-token-000", "Bearer " + token + "x", token, "Basic " + token} {
					status, challenge, body := scrape(t, host, port, "Authorization", auth)
					if status != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer") || !strings.Contains(body, "CAISSE_METRICS_TOKEN") {
						t.Errorf("from %s with Authorization %q: %d (%q) %s", host, auth, status, challenge, body)
					}
					if strings.Contains(body, token) {
						t.Errorf("the refusal shows the metrics token")
					}
				}
				if status, _, body := scrape(t, host, port, "Authorization", "Bearer "+token); status != http.StatusOK || !strings.Contains(body, "caisse_events") {
					t.Errorf("from %s with the token: %d", host, status)
				}
			}
			// Through the trusted proxy, for a client elsewhere, the token is
			// what counts.
			if status, _, _ := scrape(t, "127.0.0.1", port, "X-Forwarded-For", "203.0.113.7", "Authorization", "Bearer "+token); status != http.StatusOK {
				t.Errorf("a forwarded client with the token answered %d", status)
			}
			if strings.Contains(a.logs.String(), token) {
				t.Error("the metrics token appears in the logs")
			}
		})
	})
}

// The metrics token is a secret like the others: --help says it is set,
// and a value refused at start is named by its variable, never shown.
func TestMetricsTokenIsNeverShown(t *testing.T) {
	t.Parallel()
	const token = "metrics-token-help-0123456789"
	code, out := run(map[string]string{"CAISSE_METRICS_TOKEN": token}, "serve", "--help")
	if code != 0 || !strings.Contains(out, "(set from $CAISSE_METRICS_TOKEN)") || strings.Contains(out, token) {
		t.Errorf("serve --help with a metrics token: exit %d\n%s", code, out)
	}
	for _, bad := range []string{"short-metrics", "metrics token with spaces"} {
		code, out := run(map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret, "CAISSE_METRICS_TOKEN": bad}, "serve")
		if code == 0 || !strings.Contains(out, "CAISSE_METRICS_TOKEN") || strings.Contains(out, bad) {
			t.Errorf("CAISSE_METRICS_TOKEN=%q: exit %d, %q: want an error naming the variable without its value", bad, code, out)
		}
	}
}
