package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// The CLI, as an owner uses it, against a running caisse's database.
func TestCLI(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		dir := t.TempDir()
		jsonFile := filepath.Join(dir, "products.json")
		csvFile := filepath.Join(dir, "products.csv")
		os.WriteFile(jsonFile, []byte(`[{"id":"tee-m","name":"Tee M","price":2500,"currency":"EUR","stock":5}]`), 0o600)
		os.WriteFile(csvFile, []byte("id,name,price,currency,stock\nprint-1,Print one,900.00,eur,1\n"), 0o600)

		mustRun := func(args ...string) string {
			t.Helper()
			out, err := a.cli(args...)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		mustRun("products", "import", jsonFile)
		mustRun("products", "import", csvFile)
		var products []caisse.Product
		if err := json.Unmarshal([]byte(mustRun("products", "list", "--json")), &products); err != nil || len(products) != 2 {
			t.Fatalf("products list --json: %v %+v", err, products)
		}
		if p := a.product("tee-m"); p.Currency != "eur" || p.Stock != 5 {
			t.Fatalf("imported %+v", p)
		}
		if out := mustRun("products", "list"); !strings.Contains(out, "print-1") || !strings.Contains(out, "€900.00") {
			t.Fatalf("products list:\n%s", out)
		}

		// send signs an example with the configured secret and posts it.
		a.env["CAISSE_ADDR"] = strings.TrimPrefix(a.url, "http://")
		var sent struct {
			EventID string `json:"event_id"`
			Status  int
		}
		if err := json.Unmarshal([]byte(mustRun("send", "--example", "checkout.session.completed", "--order", "o1",
			"--product", "print-1", "--amount", "90000", "--json")), &sent); err != nil || sent.Status != 200 {
			t.Fatalf("send: %v %+v", err, sent)
		}
		a.wait(sent.EventID)
		for _, typ := range stripe.ExampleTypes {
			if out, err := a.cli("send", "--example", typ, "--order", "o2", "--product", "tee-m"); err != nil || !strings.Contains(out, typ+" evt_") {
				t.Fatalf("send --example %s: %v %s", typ, err, out)
			}
		}
		payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.expired", EventID: "evt_file", OrderID: "o3"})
		file := filepath.Join(dir, "event.json")
		os.WriteFile(file, payload, 0o600)
		mustRun("send", file)
		a.wait("evt_file")

		show := mustRun("orders", "show", "o1")
		for _, want := range []string{"paid", "1 × Print one (€900.00 each)", "TIMELINE", sent.EventID, "checkout.session.completed"} {
			if !strings.Contains(show, want) {
				t.Errorf("orders show lacks %q:\n%s", want, show)
			}
		}
		var o caisse.Order
		if err := json.Unmarshal([]byte(mustRun("orders", "show", "o1", "--json")), &o); err != nil || len(o.Timeline) != 1 {
			t.Fatalf("orders show --json: %v %+v", err, o)
		}
		if out := mustRun("orders", "list", "--status", "expired"); !strings.Contains(out, "o3") || strings.Contains(out, "o1") {
			t.Fatalf("orders list --status expired:\n%s", out)
		}
		if out := mustRun("events", "list", "--type", "checkout.session.expired"); !strings.Contains(out, "evt_file") {
			t.Fatalf("events list:\n%s", out)
		}
		if out := mustRun("events", "show", "evt_file"); !strings.Contains(out, `"object": "checkout.session"`) {
			t.Fatalf("events show lacks the payload:\n%s", out)
		}
		if out := mustRun("version", "--json"); !strings.Contains(out, `"version"`) {
			t.Fatalf("version: %s", out)
		}

		// Mistakes get a clear answer and a non-zero exit.
		for args, want := range map[string]string{
			"orders show nope":           "no order nope",
			"events replay nope":         "no event nope",
			"products import /nonexist":  "no such file",
			"send --example charge.nope": "no example for event type",
			"orders list --status weird": "unknown order status",
			"events list --status weird": "unknown event status",
		} {
			_, err := a.cli(strings.Fields(args)...)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("caisse %s: %v, want an error saying %q", args, err, want)
			}
		}
	})
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{
		"CAISSE_TOLERANCE=soon":          "CAISSE_TOLERANCE",
		"STRIPE_WEBHOOK_SECRET=abc":      "STRIPE_WEBHOOK_SECRET",
		"CAISSE_DATABASE_URL=mysql://x":  "CAISSE_DATABASE_URL",
		"CAISSE_LIVEMODE=sometimes":      "CAISSE_LIVEMODE",
		"CAISSE_ADMIN_TOKEN=short":       "CAISSE_ADMIN_TOKEN",
		"CAISSE_RESTOCK_ON_REFUND=maybe": "CAISSE_RESTOCK_ON_REFUND",
		"STRIPE_WEBHOOK_SECRET=":         "STRIPE_WEBHOOK_SECRET is not set",
		"CAISSE_TIMEZONE=Mars/Olympus":   "CAISSE_TIMEZONE",
		"CAISSE_TIMEZONE=Local":          "CAISSE_TIMEZONE",
		"CAISSE_ACCOUNTS=sales=7.07":     "CAISSE_ACCOUNTS",
		"CAISSE_ACCOUNTS=bank":           "CAISSE_ACCOUNTS",
	} {
		k, v, _ := strings.Cut(env, "=")
		vars := map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret, "CAISSE_ADDR": "127.0.0.1:0",
			"CAISSE_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "c.db"), k: v}
		var stderr bytes.Buffer
		m := &Main{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // serve returns at once if the configuration is valid
		if code := m.Run(ctx, []string{"serve"}); code == 0 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: exit %d, stderr %q, want it to name %s", env, code, stderr.String(), want)
		}
	}
}

// A webhook secret copied from an example is refused at start, saying
// where the real one is; the README's own example only while caisse is
// tried on this machine.
func TestPlaceholderSecretsAreRefused(t *testing.T) {
	t.Parallel()
	serve := func(env map[string]string) (int, string) {
		vars := map[string]string{"CAISSE_ADDR": "127.0.0.1:0", "CAISSE_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "c.db")}
		maps.Copy(vars, env)
		var stderr bytes.Buffer
		m := &Main{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // serve returns at once if the configuration is valid
		return m.Run(ctx, []string{"serve"}), stderr.String()
	}
	for _, secret := range []string{"whsec_…", "whsec_...", "whsec_xxx", "whsec_XXXXXXXXXXXXXXXX", "whsec_<secret>", "whsec_your_webhook_secret",
		testSecret + ",whsec_…"} {
		code, stderr := serve(map[string]string{"STRIPE_WEBHOOK_SECRET": secret})
		if code == 0 || !strings.Contains(stderr, "STRIPE_WEBHOOK_SECRET") || !strings.Contains(stderr, "placeholder") || !strings.Contains(stderr, "Signing secret") {
			t.Errorf("STRIPE_WEBHOOK_SECRET=%s: exit %d, %q; want it refused as a placeholder, saying where the real one is", secret, code, stderr)
		}
	}
	for _, env := range []map[string]string{
		{"CAISSE_ADDR": "0.0.0.0:0"},
		{"CAISSE_ADDR": ":0"},
		{"CAISSE_LIVEMODE": "live"},
		{"STRIPE_SECRET_KEY": "sk_live_51AbCdEfGhIjKlMnOp"},
	} {
		env["STRIPE_WEBHOOK_SECRET"] = readmeSecret
		code, stderr := serve(env)
		if code == 0 || !strings.Contains(stderr, "README's example") || strings.Contains(stderr, readmeSecret) {
			t.Errorf("%v: exit %d, %q; want the README's secret refused, without printing it", env, code, stderr)
		}
	}
	// Tried on this machine, as the README does, and a real secret: taken.
	for _, secret := range []string{readmeSecret, testSecret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		env := map[string]string{"STRIPE_WEBHOOK_SECRET": secret, "CAISSE_ADDR": "127.0.0.1:8080"}
		if _, _, err := LoadConfig(func(k string) string { return env[k] }, nil, nil); err != nil {
			t.Errorf("STRIPE_WEBHOOK_SECRET=%s: %v", secret, err)
		}
	}
}

// A mistyped SQLite path: a command that reads the database says so, with
// the databases its folder does hold, well before the 15 s it waits for a
// starting caisse serve to migrate a file that exists; doctor says so too.
func TestMistypedSQLitePath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"CAISSE_DATABASE_URL": "sqlite:" + filepath.Join(dir, "caisse.db")}
	if code, _, errOut := runCaisse(env, "migrate"); code != 0 {
		t.Fatal(errOut)
	}
	env["CAISSE_DATABASE_URL"] = "sqlite:" + filepath.Join(dir, "caise.db")
	// Cut off before openWait: a command still waiting for the file then
	// fails with the context's error instead of saying what is wrong.
	ctx, cancel := context.WithTimeout(context.Background(), openWait*2/3)
	defer cancel()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}
	if code := m.Run(ctx, []string{"orders", "list"}); code == 0 || ctx.Err() != nil ||
		!strings.Contains(errOut.String(), "no database at "+filepath.Join(dir, "caise.db")) || !strings.Contains(errOut.String(), "its folder holds caisse.db") {
		t.Fatalf("orders list on a mistyped path: exit %d, %v, %s", code, ctx.Err(), errOut.String())
	}
	env["STRIPE_WEBHOOK_SECRET"] = testSecret
	c := runDoctor(t, env).passing(t, "database", "does not exist yet")
	if !strings.Contains(c.Fix, "mistyped") || !strings.Contains(c.Fix, "caisse.db") {
		t.Errorf("doctor on a mistyped path does not say where the database may be: %+v", c)
	}
}

func TestMigrate(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		path := filepath.Join(t.TempDir(), "new.db")
		var out, stderr bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &stderr, Getenv: func(k string) string {
			return map[string]string{"CAISSE_DATABASE_URL": "sqlite:" + path}[k]
		}}
		if code := m.Run(context.Background(), []string{"orders", "list"}); code == 0 || !strings.Contains(stderr.String(), "caisse migrate") {
			t.Fatalf("orders list before migrate: exit %d, %s", code, stderr.String())
		}
		stderr.Reset()
		for range 2 { // migrating twice is harmless
			if code := m.Run(context.Background(), []string{"migrate"}); code != 0 {
				t.Fatalf("migrate: %s", stderr.String())
			}
		}
		if code := m.Run(context.Background(), []string{"orders", "list", "--json"}); code != 0 {
			t.Fatalf("orders list after migrate: %s", stderr.String())
		}
	})
}
