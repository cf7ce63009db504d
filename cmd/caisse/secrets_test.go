package main

import (
	"bytes"
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// run runs a caisse command with the given environment and returns its exit
// code and everything it printed.
func run(env map[string]string, args ...string) (int, string) {
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out, Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve returns at once if it gets as far as starting
	code := m.Run(ctx, args)
	return code, out.String()
}

// --help, and the usage printed after a mistyped flag, say which secrets are
// set and never show them; a database URL is shown without its password.
func TestHelpShowsNoSecret(t *testing.T) {
	t.Parallel()
	secrets := []string{testSecret, "sk_test_help0secret0key0123", testToken, "pw-in-userinfo", "pw-in-query", "pw-in-sslpassword",
		"smtp-password-0123", "T0SLACK/B0SLACK/slack-secret-part", "sanity-token-0123", "endpoint-token-0123", notifySecret}
	env := map[string]string{
		"STRIPE_WEBHOOK_SECRET":    testSecret,
		"STRIPE_SECRET_KEY":        "sk_test_help0secret0key0123",
		"CAISSE_ADMIN_TOKEN":       testToken,
		"CAISSE_DATABASE_URL":      "postgres://caisse:pw-in-userinfo@db.internal:5432/shop?password=pw-in-query&sslpassword=pw-in-sslpassword",
		"CAISSE_SMTP_URL":          "smtp://shop:smtp-password-0123@mail.example:587",
		"CAISSE_MAIL_FROM":         "Shop <shop@example.com>",
		"CAISSE_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T0SLACK/B0SLACK/slack-secret-part",
		"CAISSE_SANITY_PROJECT":    "proj", "CAISSE_SANITY_DATASET": "production", "CAISSE_SANITY_TOKEN": "sanity-token-0123",
		"CAISSE_NOTIFY_URLS":   "https://shop.example/hook?token=endpoint-token-0123",
		"CAISSE_NOTIFY_SECRET": notifySecret,
	}
	for _, args := range [][]string{{"serve", "--help"}, {"serve", "-h"}, {"serve", "--port", "9000"}} {
		code, out := run(env, args...)
		if mistaken := args[1] == "--port"; mistaken != (code != 0) || !strings.Contains(out, "usage: caisse serve") {
			t.Errorf("caisse %s: exit %d, want the usage and an exit status of 0 for help, 2 for a mistaken flag", strings.Join(args, " "), code)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("caisse %s shows the secret %q:\n%s", strings.Join(args, " "), s, out)
			}
		}
		for _, want := range []string{"(set from $STRIPE_WEBHOOK_SECRET)", "(set from $STRIPE_SECRET_KEY)", "(set from $CAISSE_ADMIN_TOKEN)",
			"(set from $CAISSE_SMTP_URL)", "(set from $CAISSE_ALERT_WEBHOOK_URL)", "(set from $CAISSE_SANITY_TOKEN)",
			"(set from $CAISSE_NOTIFY_URLS)", "(set from $CAISSE_NOTIFY_SECRET)",
			`"postgres://caisse:…@db.internal:5432/shop?password=…&sslpassword=…"`, `(default "127.0.0.1:8080")`} {
			if !strings.Contains(out, want) {
				t.Errorf("caisse %s does not say %s:\n%s", strings.Join(args, " "), want, out)
			}
		}
	}
	// Unset, a secret is named but not said to be set.
	if _, out := run(map[string]string{}, "serve", "--help"); strings.Contains(out, "set from") || !strings.Contains(out, "($STRIPE_WEBHOOK_SECRET)") {
		t.Errorf("serve --help without secrets:\n%s", out)
	}

	// A value refused by validation is named by its variable, never shown.
	for env, secret := range map[string]string{
		"STRIPE_WEBHOOK_SECRET=" + testSecret + ",notwhsec-secret-value": "notwhsec-secret-value",
		"STRIPE_SECRET_KEY=pk_live_publishable0secret":                   "pk_live_publishable0secret",
		"CAISSE_ADMIN_TOKEN=short-secret":                                "short-secret",
		"CAISSE_DATABASE_URL=mysql://u:pw-mysql@db/shop":                 "pw-mysql",
	} {
		k, v, _ := strings.Cut(env, "=")
		vars := map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret, "CAISSE_ADDR": "127.0.0.1:0",
			"CAISSE_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "c.db"), k: v}
		code, out := run(vars, "serve")
		if code == 0 || !strings.Contains(out, k) || strings.Contains(out, secret) {
			t.Errorf("%s: exit %d, output %q: want an error naming %s without its value", env, code, out, k)
		}
		// The same value given as a flag.
		flagName := map[string]string{"STRIPE_WEBHOOK_SECRET": "--webhook-secret", "STRIPE_SECRET_KEY": "--stripe-secret-key",
			"CAISSE_ADMIN_TOKEN": "--admin-token", "CAISSE_DATABASE_URL": "--database-url"}[k]
		delete(vars, k)
		code, out = run(vars, "serve", flagName+"="+v)
		if code == 0 || strings.Contains(out, secret) {
			t.Errorf("%s=%s: exit %d, output %q: want an error without the value", flagName, v, code, out)
		}
	}
}

// A PostgreSQL password, in the URL's user info or its query, is in no log
// line, no command's output and no error.
func TestDatabasePasswordIsNeverShown(t *testing.T) {
	t.Parallel()
	secrets := []string{"pw-in-userinfo", "pw-in-query", "pw-in-sslpassword"}
	u, err := url.Parse(postgresDB.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "pw-in-userinfo")
	// The test server trusts local connections: the passwords are sent and ignored.
	u.RawQuery += "&password=pw-in-query&sslpassword=pw-in-sslpassword"
	a := setup(t, postgresDB, func(env map[string]string) { env["CAISSE_DATABASE_URL"] = u.String() })
	check := func(what, out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s shows the database password %q:\n%s", what, s, out)
			}
		}
	}
	if logs := a.logs.String(); !strings.Contains(logs, `"database":"postgres://postgres:…@`) || !strings.Contains(logs, "password=…") {
		t.Errorf("serve's start-up line does not show the redacted URL:\n%s", logs)
	}
	for _, args := range [][]string{{"migrate"}, {"migrate", "--json"}} {
		out, err := a.cli(args...)
		if err != nil || !strings.Contains(out, "postgres://postgres:…@") {
			t.Errorf("caisse %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		check("caisse "+strings.Join(args, " "), out)
	}

	// Errors: a server that does not answer, a URL that does not parse.
	for _, dbURL := range []string{
		"postgres://caisse:pw-in-userinfo@127.0.0.1:1/shop?password=pw-in-query&sslpassword=pw-in-sslpassword&connect_timeout=5",
		"postgres://caisse:pw-in-userinfo%zz@127.0.0.1:1/shop?password=pw-in-query",
	} {
		env := map[string]string{"CAISSE_DATABASE_URL": dbURL, "STRIPE_WEBHOOK_SECRET": testSecret, "CAISSE_ADDR": "127.0.0.1:0"}
		for _, args := range [][]string{{"migrate"}, {"orders", "list"}, {"serve", "--help"}} {
			code, out := run(env, args...)
			if code == 0 && args[0] != "serve" {
				t.Errorf("caisse %s on %s: exit 0", strings.Join(args, " "), dbURL)
			}
			check("caisse "+strings.Join(args, " "), out)
		}
		p := &Program{Config: a.p.Config, Logger: a.p.Logger}
		p.Config.DatabaseURL = dbURL
		if err := p.Open(context.Background()); err == nil {
			p.Close()
			t.Errorf("serve on %s started", dbURL)
		} else {
			check("serve's error", err.Error())
		}
	}
	check("serve's logs", a.logs.String())
}
