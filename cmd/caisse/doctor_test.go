package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sanityfake"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/internal/stripemock"
)

// doctorSecret is shaped like a Dashboard endpoint's signing secret.
const doctorSecret = "whsec_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"

// doctorRun is what one run of caisse doctor gave, in text and in JSON.
type doctorRun struct {
	code   int
	text   string // stdout and stderr of the text run
	json   string // stdout and stderr of the --json run
	checks []check
}

// runDoctor runs caisse doctor twice, as text and with --json, and checks
// both agree on the exit status and that no secret of env appears.
func runDoctor(t *testing.T, env map[string]string) doctorRun {
	t.Helper()
	code, out, errOut := runCaisse(env, "doctor")
	jcode, jout, jerr := runCaisse(env, "doctor", "--json")
	r := doctorRun{code: code, text: out + errOut, json: jout + jerr}
	if err := json.Unmarshal([]byte(jout), &r.checks); err != nil {
		t.Fatalf("caisse doctor --json printed no JSON list (%v):\n%s", err, r.json)
	}
	if code != jcode {
		t.Errorf("caisse doctor exited %d, with --json %d", code, jcode)
	}
	var raw []map[string]any
	json.Unmarshal([]byte(jout), &raw)
	for _, c := range raw {
		for _, k := range []string{"name", "ok", "skipped", "detail", "fix"} {
			if _, ok := c[k]; !ok {
				t.Errorf("a check in the JSON has no %q: %v", k, c)
			}
		}
	}
	for _, s := range doctorSecrets(env) {
		if strings.Contains(r.text, s) || strings.Contains(r.json, s) {
			t.Errorf("caisse doctor printed the secret %q:\n%s\n%s", s, r.text, r.json)
		}
	}
	return r
}

// doctorSecrets are the secret values of env, as a person would spot them.
func doctorSecrets(env map[string]string) []string {
	var out []string
	for _, k := range []string{"STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "CAISSE_ADMIN_TOKEN", "CAISSE_SANITY_TOKEN", "CAISSE_NOTIFY_SECRET"} {
		for s := range strings.SplitSeq(env[k], ",") {
			if s = strings.Trim(strings.TrimSpace(s), `"'`); len(s) >= 8 {
				out = append(out, s, strings.TrimPrefix(s, "whsec_"))
			}
		}
	}
	// The password of the mail server and of the database, the alert
	// webhook's token, and the token in the shop's endpoint's query.
	for _, s := range []string{"mail-passw0rd", "pg-passw0rd", "secretpart", "shop-endpoint-token"} {
		if strings.Contains(strings.Join(mapValues(env), " "), s) {
			out = append(out, s)
		}
	}
	return out
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// get returns the check of that name, failing the test if there is none.
func (r doctorRun) get(t *testing.T, name string) check {
	t.Helper()
	i := slices.IndexFunc(r.checks, func(c check) bool { return c.Name == name || strings.HasPrefix(c.Name, name+" ") })
	if i < 0 {
		t.Fatalf("no check %q:\n%s", name, r.text)
	}
	return r.checks[i]
}

// failing asserts that the named check failed, saying each of want in its
// detail or fix, and that the run exited 1 and printed it with a ✗.
func (r doctorRun) failing(t *testing.T, name string, want ...string) check {
	t.Helper()
	c := r.get(t, name)
	if c.OK || c.Skipped || r.code != 1 {
		t.Fatalf("check %q: %+v, exit %d; want it failed and exit 1:\n%s", name, c, r.code, r.text)
	}
	if c.Fix == "" {
		t.Errorf("check %q failed without saying what to do: %+v", name, c)
	}
	for _, w := range want {
		if !strings.Contains(c.Detail+" "+c.Fix, w) {
			t.Errorf("check %q does not say %q:\n%s\n%s", name, w, c.Detail, c.Fix)
		}
	}
	if !strings.Contains(r.text, "✗ "+c.Name+": ") || !strings.Contains(r.text, "checks failed") {
		t.Errorf("the text output does not show the failure of %q:\n%s", name, r.text)
	}
	return c
}

// passing asserts that the named check passed, saying each of want.
func (r doctorRun) passing(t *testing.T, name string, want ...string) check {
	t.Helper()
	c := r.get(t, name)
	if !c.OK || c.Skipped {
		t.Fatalf("check %q: %+v; want it passed:\n%s", name, c, r.text)
	}
	for _, w := range want {
		if !strings.Contains(c.Detail, w) {
			t.Errorf("check %q does not say %q: %s", name, w, c.Detail)
		}
	}
	return c
}

// migrated returns the URL of a new database of that kind, migrated.
func migrated(t *testing.T, db testDB) string {
	t.Helper()
	u := db.NewURL(t)
	if code, out, errOut := runCaisse(map[string]string{"CAISSE_DATABASE_URL": u}, "migrate"); code != 0 {
		t.Fatalf("caisse migrate exited %d: %s%s", code, out, errOut)
	}
	return u
}

// caisseEndpoint is a webhook endpoint that points at caisse and sends
// what it needs.
func caisseEndpoint() stripemock.WebhookEndpoint {
	return stripemock.WebhookEndpoint{ID: "we_caisse", URL: "https://pay.example.com/webhooks/stripe", Status: "enabled",
		APIVersion: "2025-03-31.basil", EnabledEvents: append(slices.Clone(caisse.HandledTypes), "customer.created")}
}

// healthy is an environment where everything caisse uses answers: a
// migrated database, Stripe (the Fake, with an endpoint for caisse), a
// mail server, an alert webhook, Sanity and the shop's endpoint.
func healthy(t *testing.T, db testDB) (map[string]string, *receivers, *stripemock.Fake) {
	t.Helper()
	fake := stripemock.NewFake(t)
	fake.SetWebhookEndpoints(
		stripemock.WebhookEndpoint{ID: "we_other", URL: "https://other.example/hook", Status: "enabled", EnabledEvents: []string{"*"}},
		caisseEndpoint())
	fake.AddShippingRate("shr_colissimo", true)
	r := startReceivers(t, smtptest.Options{})
	env := map[string]string{
		"CAISSE_SHIPPING_COUNTRIES": "FR,BE",
		"CAISSE_SHIPPING_RATES":     "shr_colissimo",
		"CAISSE_DATABASE_URL":       migrated(t, db),
		"STRIPE_WEBHOOK_SECRET":     doctorSecret,
		"CAISSE_ADMIN_TOKEN":        testToken,
		"STRIPE_SECRET_KEY":         stripemock.TestKey + "_doctor0123456789",
		"STRIPE_API_URL":            fake.URL,
		"CAISSE_PUBLIC_URL":         "https://pay.example.com",
		"CAISSE_LIVEMODE":           "test",
	}
	r.env(env)
	return env, r, fake
}

// A shipping rate the checkout offers that is archived, or that the key's
// account does not have, fails the check (Stripe would refuse every
// checkout); rates without countries are refused with what to set.
func TestDoctorShippingRates(t *testing.T) {
	env, _, fake := healthy(t, sqliteDB)
	fake.AddShippingRate("shr_archived", false)
	env["CAISSE_SHIPPING_RATES"] = "shr_colissimo,shr_archived,shr_gone"
	r := runDoctor(t, env)
	if r.code == 0 {
		t.Fatalf("caisse doctor exited 0:\n%s", r.text)
	}
	r.failing(t, "shipping rates", "shr_archived (Colissimo) is archived", "shr_gone does not exist", "Shipping rates")
	env["CAISSE_SHIPPING_RATES"] = "shr_colissimo"
	delete(env, "CAISSE_SHIPPING_COUNTRIES")
	r = runDoctor(t, env)
	r.failing(t, "configuration", "CAISSE_SHIPPING_RATES", "CAISSE_SHIPPING_COUNTRIES")
	env["CAISSE_SHIPPING_COUNTRIES"] = "France"
	r = runDoctor(t, env)
	r.failing(t, "configuration", "CAISSE_SHIPPING_COUNTRIES", "two-letter ISO codes")
}

// Everything set up and answering: every check passes, exit 0, and
// nothing is sent anywhere (Sanity gets a dry run).
func TestDoctorAllGood(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		env, rcv, _ := healthy(t, db)
		r := runDoctor(t, env)
		if r.code != 0 || !strings.Contains(r.text, "all checks passed (0 skipped)") {
			t.Fatalf("caisse doctor exited %d:\n%s", r.code, r.text)
		}
		// What is shown (the database, the mail server, the endpoints)
		// is not mistaken for a secret.
		if strings.Contains(r.text, "[secret]") {
			t.Errorf("something that is no secret was hidden:\n%s", r.text)
		}
		for _, c := range r.checks {
			if !c.OK || c.Skipped || c.Fix != "" {
				t.Errorf("check %+v, want it passed without a warning", c)
			}
			if !strings.Contains(r.text, "✓ "+c.Name+": ") {
				t.Errorf("the text output lacks ✓ %s", c.Name)
			}
		}
		r.passing(t, "database", "reachable, migrated and takes writes")
		r.passing(t, "stripe key", "test mode", "CAISSE_LIVEMODE=test matches")
		r.passing(t, "stripe endpoint", "we_caisse", "https://pay.example.com/webhooks/stripe", "2025-03-31.basil", "every event type caisse handles")
		r.passing(t, "shipping rates", "shr_colissimo (Colissimo, €15.00)")
		r.passing(t, "email", "signed caisse in; nothing was sent")
		r.passing(t, "alert webhook", "no message was posted")
		r.passing(t, "sanity", "dry run")
		r.passing(t, "shop webhook", "nothing was posted")
		if n := len(rcv.mail.Messages()); n != 0 {
			t.Errorf("doctor sent %d emails", n)
		}
		if n := len(rcv.shop.requests()); n != 0 {
			t.Errorf("doctor posted %d webhooks to the shop", n)
		}
		// The alert webhook was asked whether it exists with an empty
		// message, which it refused: nothing appeared in the channel.
		for _, req := range rcv.slack.requests() {
			if req.Status != http.StatusBadRequest || string(req.Body) != "{}" {
				t.Errorf("doctor posted %s to the alert webhook, answered %d; want only an empty message, refused", req.Body, req.Status)
			}
		}
		if n := len(rcv.slack.requests()); n != 2 {
			t.Errorf("the alert webhook was asked %d times, want once per doctor run", n)
		}
		for _, req := range rcv.sanity.Received() {
			if !strings.Contains(req.RawQuery, "dryRun=true") {
				t.Errorf("doctor sent Sanity a request that is not a dry run: %s?%s", req.Path, req.RawQuery)
			}
		}
		if len(rcv.sanity.Received()) != 2 {
			t.Errorf("Sanity received %d requests, want one dry run per doctor run", len(rcv.sanity.Received()))
		}
	})
}

// Nothing but a secret and a database that does not exist yet: the
// channels and Stripe are skipped, saying what they would check, and the
// file is not created.
func TestDoctorSkips(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new.db")
	r := runDoctor(t, map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret, "CAISSE_DATABASE_URL": "sqlite:" + path})
	if r.code != 0 || !strings.Contains(r.text, "all checks passed (7 skipped)") {
		t.Fatalf("caisse doctor exited %d:\n%s", r.code, r.text)
	}
	r.passing(t, "database", "does not exist yet", "caisse migrate")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("doctor created the database file: %v", err)
	}
	for name, want := range map[string]string{
		"stripe key":      "STRIPE_SECRET_KEY is unset",
		"stripe endpoint": "points at caisse, is enabled and sends every event type",
		"shipping rates":  "CAISSE_SHIPPING_RATES is unset",
		"email":           "CAISSE_SMTP_URL is unset",
		"alert webhook":   "CAISSE_ALERT_WEBHOOK_URL is unset",
		"sanity":          "CAISSE_SANITY_PROJECT is unset",
		"shop webhooks":   "CAISSE_NOTIFY_URLS is unset",
	} {
		if c := r.get(t, name); c.OK || !c.Skipped || !strings.Contains(c.Detail, want) || !strings.Contains(r.text, "– "+name+": ") {
			t.Errorf("check %q: %+v, want it skipped saying %q", name, c, want)
		}
	}
}

// The mistakes people make with STRIPE_WEBHOOK_SECRET are named, with
// where to find the right one, without printing what was pasted.
func TestDoctorWebhookSecret(t *testing.T) {
	t.Parallel()
	base := map[string]string{"CAISSE_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "c.db")}
	for value, want := range map[string]string{
		"":                           "STRIPE_WEBHOOK_SECRET is not set",
		"sk_test_51AbCdEfGhIjKlMnOp": "is a Stripe API key (sk_…), not a webhook signing secret",
		"rk_live_51AbCdEfGhIjKlMnOp": "is a Stripe API key (rk_…)",
		"pk_test_51AbCdEfGhIjKlMnOp": "is a publishable key",
		"we_1PgcAbCdEfGhIjKl":        "is the id of a webhook endpoint (we_…)",
		`"` + doctorSecret + `"`:     "wrapped in quotes",
		"whsec_••••••••••••••••••••••••••••": "the dots of a masked secret",
		doctorSecret + ",sk_test_51AbCdEfGh": "secret 2 of STRIPE_WEBHOOK_SECRET is a Stripe API key",
		"abc123def456ghi789":                 "does not start with whsec_",
		"whsec_…":                            "is a placeholder from an example",
		"whsec_xxx":                          "is a placeholder from an example",
	} {
		env := map[string]string{"STRIPE_WEBHOOK_SECRET": value}
		for k, v := range base {
			env[k] = v
		}
		r := runDoctor(t, env)
		if strings.Contains(want, "quotes") {
			r.failing(t, "webhook secret", want, "remove the quotes")
			continue
		}
		r.failing(t, "webhook secret", want, "Developers → Webhooks", "Signing secret")
	}
	// A key pasted in both places is said to be the same.
	r := runDoctor(t, map[string]string{"STRIPE_WEBHOOK_SECRET": "sk_test_51SameKeyTwice", "STRIPE_SECRET_KEY": "sk_test_51SameKeyTwice",
		"STRIPE_API_URL": "http://127.0.0.1:1", "CAISSE_DATABASE_URL": base["CAISSE_DATABASE_URL"]})
	r.failing(t, "webhook secret", "the same as STRIPE_SECRET_KEY", "belongs in STRIPE_SECRET_KEY only")
	// A short secret (such as the README's whsec_local_secret) is a warning:
	// fine for caisse send, not for Stripe.
	r = runDoctor(t, map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_local_secret", "CAISSE_DATABASE_URL": base["CAISSE_DATABASE_URL"]})
	if c := r.passing(t, "webhook secret", "12 characters after whsec_"); r.code != 0 || !strings.Contains(c.Fix, "copy the endpoint's secret again") {
		t.Errorf("a short secret: exit %d, %+v; want a warning", r.code, c)
	}
}

// A database that is not migrated names the pending migrations and says to
// run caisse migrate; doctor migrates nothing itself.
func TestDoctorDatabaseNotMigrated(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		u := db.NewURL(t)
		if path, ok := strings.CutPrefix(u, "sqlite:"); ok {
			// An empty file, as an interrupted first start leaves.
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		env := map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret, "CAISSE_DATABASE_URL": u}
		for range 2 {
			r := runDoctor(t, env)
			r.failing(t, "database", "migrations are pending", "00001_core", "00008_admin", "run caisse migrate")
		}
		if code, _, errOut := runCaisse(env, "migrate"); code != 0 {
			t.Fatal(errOut)
		}
		runDoctor(t, env).passing(t, "database", "reachable, migrated")
	})
}

// A database that cannot be reached says so, with the URL shown without
// its password.
func TestDoctorDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := runDoctor(t, map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret,
		"CAISSE_DATABASE_URL": "postgres://caisse:pg-passw0rd@" + addr + "/shop?sslmode=disable"})
	r.failing(t, "database", "postgres://caisse:", addr, "user, password and database in CAISSE_DATABASE_URL")
	r = runDoctor(t, map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret, "CAISSE_DATABASE_URL": "mysql://x"})
	r.failing(t, "database", "must start with sqlite: or postgres://", "sqlite:PATH")
	r = runDoctor(t, map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret, "CAISSE_DATABASE_URL": "sqlite:" + t.TempDir()})
	r.failing(t, "database", "is a folder")
}

// The Stripe checks against the real stripe-mock: it accepts any test key,
// and lists one fixture endpoint, which does not point at caisse; it
// refuses a live key, quoting it, and doctor does not.
func TestDoctorStripeMock(t *testing.T) {
	t.Parallel()
	mock := stripemock.Start(t)
	env := map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret, "CAISSE_DATABASE_URL": migrated(t, sqliteDB),
		"STRIPE_SECRET_KEY": stripemock.TestKey, "STRIPE_API_URL": mock}
	r := runDoctor(t, env)
	r.passing(t, "stripe key", "Stripe accepts the key (test mode)", "CAISSE_LIVEMODE is empty")
	r.failing(t, "stripe endpoint", "no webhook endpoint of the test-mode account points at caisse",
		"it has 1: we_", "https://example.com/my/webhook/endpoint", "Add endpoint", "/webhooks/stripe", "charge.dispute.closed")

	env["STRIPE_SECRET_KEY"] = "sk_live_51LiveKeyThatMustNotBePrinted"
	r = runDoctor(t, env)
	r.failing(t, "stripe key", "Stripe refused STRIPE_SECRET_KEY (401", "Developers → API keys")
	if c := r.get(t, "stripe endpoint"); !c.Skipped {
		t.Errorf("the endpoint check ran with a refused key: %+v", c)
	}
}

// The webhook endpoint's problems, through a Stripe that lists what the
// test says (stripemock.Fake): each named, with what to do.
func TestDoctorStripeEndpoint(t *testing.T) {
	t.Parallel()
	dbURL := migrated(t, sqliteDB)
	deaf := caisseEndpoint()
	deaf.EnabledEvents = slices.DeleteFunc(slices.Clone(caisse.HandledTypes), func(t string) bool { return strings.HasPrefix(t, "charge.dispute.") })
	disabled := caisseEndpoint()
	disabled.Status = "disabled"
	elsewhere := caisseEndpoint()
	elsewhere.URL = "https://old-host.example/webhooks/stripe"
	all := caisseEndpoint()
	all.EnabledEvents, all.APIVersion = []string{"*"}, ""
	for _, tt := range []struct {
		name      string
		endpoints []stripemock.WebhookEndpoint
		env       map[string]string
		fail      []string // the endpoint check fails, saying these
		pass      []string // or passes, saying these
	}{
		{"missing types", []stripemock.WebhookEndpoint{deaf}, nil,
			[]string{"we_caisse", "does not send charge.dispute.created, charge.dispute.updated, charge.dispute.closed", "2025-03-31.basil", "Update details"}, nil},
		{"disabled", []stripemock.WebhookEndpoint{disabled}, nil,
			[]string{"we_caisse", "is disabled", "enable it"}, nil},
		{"another host", []stripemock.WebhookEndpoint{elsewhere}, nil,
			[]string{"points at pay.example.com (CAISSE_PUBLIC_URL's host)", "https://old-host.example/webhooks/stripe", "https://pay.example.com/webhooks/stripe"}, nil},
		{"another host, no CAISSE_PUBLIC_URL", []stripemock.WebhookEndpoint{elsewhere}, map[string]string{"CAISSE_PUBLIC_URL": ""},
			nil, []string{"https://old-host.example/webhooks/stripe"}},
		{"every event, the account's version", []stripemock.WebhookEndpoint{all}, nil,
			nil, []string{"every event (*)", "the account's default API version"}},
		{"none", nil, nil, []string{"it has none", "Add endpoint"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := stripemock.NewFake(t)
			fake.SetWebhookEndpoints(tt.endpoints...)
			env := map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret, "CAISSE_DATABASE_URL": dbURL,
				"STRIPE_SECRET_KEY": "sk_test_51Doctor0123456789", "STRIPE_API_URL": fake.URL, "CAISSE_PUBLIC_URL": "https://pay.example.com"}
			for k, v := range tt.env {
				env[k] = v
			}
			r := runDoctor(t, env)
			r.passing(t, "stripe key")
			if tt.fail != nil {
				r.failing(t, "stripe endpoint", tt.fail...)
			} else {
				r.passing(t, "stripe endpoint", tt.pass...)
				if r.code != 0 {
					t.Errorf("exit %d:\n%s", r.code, r.text)
				}
			}
		})
	}
}

// The key's mode against CAISSE_LIVEMODE, a restricted key that may not
// read endpoints, and a Stripe that cannot be reached.
func TestDoctorStripeKey(t *testing.T) {
	t.Parallel()
	dbURL := migrated(t, sqliteDB)
	fake := stripemock.NewFake(t)
	fake.SetWebhookEndpoints(caisseEndpoint())
	env := func(kv ...string) map[string]string {
		e := map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret, "CAISSE_DATABASE_URL": dbURL,
			"STRIPE_SECRET_KEY": "sk_test_51Doctor0123456789", "STRIPE_API_URL": fake.URL}
		for i := 0; i < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	r := runDoctor(t, env("CAISSE_LIVEMODE", "live"))
	r.failing(t, "stripe key", "a test key but CAISSE_LIVEMODE=live refuses test events", "sk_live_", "CAISSE_LIVEMODE=test")
	r.passing(t, "stripe endpoint")

	fake.FailNext(http.MethodGet, "/v1/webhook_endpoints", stripemock.Error{Status: http.StatusForbidden,
		Message: "The provided key 'rk_test_*********6789' does not have the required permissions for this endpoint."})
	fake.FailNext(http.MethodGet, "/v1/webhook_endpoints", stripemock.Error{Status: http.StatusForbidden,
		Message: "The provided key 'rk_test_*********6789' does not have the required permissions for this endpoint."})
	r = runDoctor(t, env("STRIPE_SECRET_KEY", "rk_test_51Doctor0123456789"))
	r.passing(t, "stripe key", "may not read webhook endpoints")
	r.failing(t, "stripe endpoint", "Webhook Endpoints: Read")

	r = runDoctor(t, env("STRIPE_SECRET_KEY", "pk_test_51Doctor0123456789"))
	r.failing(t, "stripe key", "publishable key", "Developers → API keys")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	r = runDoctor(t, env("STRIPE_API_URL", down))
	r.failing(t, "stripe key", "could not reach Stripe's API at "+down, "STRIPE_API_URL")
}

// Each channel that is set up but does not answer says so, and what to do.
func TestDoctorChannelsFail(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	sanity := sanityfake.New(t)
	env := map[string]string{
		"STRIPE_WEBHOOK_SECRET":     doctorSecret,
		"CAISSE_DATABASE_URL":       migrated(t, sqliteDB),
		"CAISSE_SMTP_URL":           "smtp://shop:mail-passw0rd@" + down,
		"CAISSE_MAIL_FROM":          "Galerie Lune <shop@lune.example>",
		"CAISSE_ALERT_WEBHOOK_URL":  "http://" + down + "/services/T0/B0/secretpart",
		"CAISSE_SANITY_PROJECT":     sanity.Project,
		"CAISSE_SANITY_DATASET":     sanity.Dataset,
		"CAISSE_SANITY_TOKEN":       "skWrongSanityToken0123",
		"CAISSE_SANITY_API_VERSION": sanity.Version,
		"CAISSE_SANITY_URL":         sanity.URL,
		"CAISSE_NOTIFY_URLS":        "http://" + down + "/hooks/caisse?token=shop-endpoint-token",
		"CAISSE_NOTIFY_SECRET":      notifySecret,
	}
	r := runDoctor(t, env)
	r.failing(t, "email", "could not talk to the mail server at "+down, "check that the server is up", "CAISSE_SMTP_URL")
	r.failing(t, "alert webhook", "nothing answers at "+down, "CAISSE_ALERT_WEBHOOK_URL")
	r.failing(t, "sanity", "Sanity does not accept the token", "CAISSE_SANITY_TOKEN")
	r.failing(t, "shop webhook", "nothing answers at "+down, "CAISSE_NOTIFY_URLS")
	if c := r.get(t, "shop webhook"); c.Name != "shop webhook http://"+down+"/hooks/caisse" {
		t.Errorf("the shop webhook check is named %q", c.Name)
	}
	r.passing(t, "database")

	// A mail server that refuses the password; a sender missing.
	mail := smtptest.Start(t, smtptest.Options{User: "shop", Password: "right-password"})
	env["CAISSE_SMTP_URL"] = mail.URL("smtp", "shop", "mail-passw0rd")
	env["CAISSE_MAIL_FROM"] = ""
	r = runDoctor(t, env)
	r.failing(t, "email", "CAISSE_MAIL_FROM is empty", "set it to the address emails come from")
	if c := r.get(t, "configuration"); !c.OK {
		t.Errorf("the missing sender is reported twice: %+v", c)
	}
}

// Variables caisse refuses are each named, and the checks of the others
// still run.
func TestDoctorConfiguration(t *testing.T) {
	t.Parallel()
	r := runDoctor(t, map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret, "CAISSE_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "c.db"),
		"CAISSE_TOLERANCE": "soon", "CAISSE_ADMIN_TOKEN": "short", "CAISSE_LIVEMODE": "sometimes"})
	r.failing(t, "configuration", "CAISSE_TOLERANCE", "CAISSE_ADMIN_TOKEN", "caisse serve --help")
	if c := r.get(t, "configuration"); strings.Contains(c.Detail, "CAISSE_LIVEMODE") {
		t.Errorf("CAISSE_LIVEMODE belongs to the Stripe checks: %+v", c)
	}
	r.passing(t, "database")
	r.passing(t, "webhook secret")
	r = runDoctor(t, map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret, "CAISSE_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "c.db"),
		"CAISSE_OVERSOLD_POLICY": "refund"})
	r.failing(t, "configuration", "CAISSE_OVERSOLD_POLICY=refund needs STRIPE_SECRET_KEY")
}

// Every secret of a full configuration stays out of the output, whether
// the checks pass or fail.
func TestDoctorPrintsNoSecret(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		env, _, _ := healthy(t, db)
		env["CAISSE_SMTP_URL"] = strings.Replace(env["CAISSE_SMTP_URL"], "smtp://", "smtp://shop:mail-passw0rd@", 1)
		env["CAISSE_SANITY_TOKEN"] = "skAnotherSanityToken987"
		env["STRIPE_SECRET_KEY"] = "sk_live_51LiveKeyThatMustNotBePrinted"
		if db == postgresDB {
			env["CAISSE_DATABASE_URL"] = strings.Replace(env["CAISSE_DATABASE_URL"], "postgres://postgres@", "postgres://postgres:pg-passw0rd@", 1)
		}
		r := runDoctor(t, env) // runDoctor fails the test on any secret printed
		if r.code != 1 {
			t.Errorf("exit %d, want 1 (the mail server takes no password without TLS, Sanity refuses the token, Stripe the key):\n%s", r.code, r.text)
		}
	})
}

// A Slack webhook that was deleted (or mistyped) answers 404: caisse
// notify test fails on it, and so does doctor, saying so, though its host
// answers.
func TestDoctorFailsWhatNotifyTestFails(t *testing.T) {
	t.Parallel()
	r := startReceivers(t, smtptest.Options{})
	env := map[string]string{"STRIPE_WEBHOOK_SECRET": doctorSecret, "CAISSE_DATABASE_URL": migrated(t, sqliteDB)}
	r.env(env)
	env["CAISSE_ALERT_WEBHOOK_URL"] = r.slack.url + "/services/T0/B0/deletedpart"
	d := runDoctor(t, env)
	d.failing(t, "alert webhook", "does not exist", "404", "CAISSE_ALERT_WEBHOOK_URL")
	if strings.Contains(d.text, "deletedpart") {
		t.Errorf("doctor printed the webhook's address:\n%s", d.text)
	}
	out, err := (&app{t: t, env: env}).cli("notify", "test")
	if err == nil || !strings.Contains(out, "FAILED") {
		t.Fatalf("notify test with a deleted webhook: %v\n%s", err, out)
	}
	for _, req := range r.slack.requests() {
		if req.Status != http.StatusNotFound {
			t.Errorf("the deleted webhook answered %d", req.Status)
		}
	}

	// The webhook exists again: both pass.
	env["CAISSE_ALERT_WEBHOOK_URL"] = r.slack.url + slackHook
	runDoctor(t, env).passing(t, "alert webhook", "the webhook exists")
}
