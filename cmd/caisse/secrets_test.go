package main

import (
	"bytes"
	"context"
	"net/url"
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
		for _, args := range [][]string{{"migrate"}, {"orders", "list"}} {
			code, out := run(env, args...)
			if code == 0 {
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
