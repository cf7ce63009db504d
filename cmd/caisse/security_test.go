package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse/stripe"
)

// Hostile input beyond TestRejections: each gets a 4xx, changes nothing and
// logs no secret.
func TestHostileInput(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db, func(env map[string]string) { env["CAISSE_LIVEMODE"] = "live" })
		testEvent, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", OrderID: "o1"})
		now := time.Now()
		send := func(name string, build func(req *http.Request), body []byte, want int) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, a.url+"/webhooks/stripe", bytes.NewReader(body))
			build(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("%s: %d %s, want %d", name, res.StatusCode, b, want)
			}
			if bytes.Contains(b, []byte(testSecret)) || bytes.Contains(b, []byte("goroutine")) {
				t.Errorf("%s: the answer leaks: %s", name, b)
			}
		}
		send("empty signature", func(r *http.Request) { r.Header.Set("Stripe-Signature", "") }, testEvent, 400)
		send("two signature headers", func(r *http.Request) {
			r.Header.Add("Stripe-Signature", sign(testEvent, testSecret, now))
			r.Header.Add("Stripe-Signature", sign(testEvent, testSecret, now))
		}, testEvent, 400)
		send("test event in live mode", func(r *http.Request) { r.Header.Set("Stripe-Signature", sign(testEvent, testSecret, now)) }, testEvent, 400)
		send("oversized headers", func(r *http.Request) {
			r.Header.Set("Stripe-Signature", sign(testEvent, testSecret, now))
			r.Header.Set("X-Padding", strings.Repeat("a", 200<<10))
		}, testEvent, http.StatusRequestHeaderFieldsTooLarge)
		send("signature of another body", func(r *http.Request) {
			r.Header.Set("Stripe-Signature", sign([]byte(`{"id":"evt_other"}`), testSecret, now))
		}, testEvent, 400)

		// A body announced as larger than 1 MiB is refused before it is sent.
		conn, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /webhooks/stripe HTTP/1.1\r\nHost: caisse\r\nContent-Length: %d\r\nStripe-Signature: t=1,v1=00\r\n\r\n{", 50<<20)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to a 50 MiB announcement: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("50 MiB announced: %d, want 413", res.StatusCode)
		}

		if n := a.eventCount(); n != 0 {
			t.Fatalf("%d events stored from hostile input", n)
		}
		if p := a.admin(http.MethodGet, "/api/admin/orders", nil, nil); p != http.StatusOK {
			t.Fatalf("admin after hostile input: %d", p)
		}
	})
}

// The other mode's refusal: with CAISSE_LIVEMODE=test, a live event is refused.
func TestLiveEventInTestMode(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db, func(env map[string]string) { env["CAISSE_LIVEMODE"] = "test" })
		live, _ := stripe.Build(stripe.Example{Type: "payment_intent.succeeded", OrderID: "o1", Livemode: true})
		if status, body := a.post("/webhooks/stripe", live, sign(live, testSecret, time.Now())); status != 400 || !strings.Contains(body, "wrong_mode") {
			t.Fatalf("%d %s", status, body)
		}
		test, _ := stripe.Build(stripe.Example{Type: "payment_intent.succeeded", OrderID: "o1"})
		a.deliver(test)
		if n := a.eventCount(); n != 1 {
			t.Fatalf("%d events stored, want only the test-mode one", n)
		}
	})
}

// A client that sends its headers slowly is cut off by the server's timeouts
// instead of holding a connection for ever.
func TestSlowClientIsCutOff(t *testing.T) {
	t.Parallel()
	a := setup(t, sqliteDB)
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /webhooks/stripe HTTP/1.1\r\nHost: caisse\r\n") // and never finishes
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("the server did not close a stalled connection: %v", err)
	}
}

// Internal errors answer a generic message: no SQL, no stack, no secret.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.process(stripe.Example{Type: "checkout.session.expired", OrderID: "o1"})
		if _, err := a.raw().Exec(`DROP TABLE order_timeline`); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/api/admin/orders/o1", "/api/admin/orders", "/api/admin/events", "/api/admin/products"} {
			req, _ := http.NewRequest(http.MethodGet, a.url+path, nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			body := string(b)
			for _, leak := range []string{"SELECT", "order_timeline", "sqlite", "SQLSTATE", "goroutine", testSecret, testToken} {
				if strings.Contains(body, leak) {
					t.Errorf("GET %s (%d) leaks %q: %s", path, res.StatusCode, leak, body)
				}
			}
			if path == "/api/admin/orders/o1" && (res.StatusCode != 500 || !strings.Contains(body, `"code":"internal"`)) {
				t.Errorf("GET %s: %d %s, want a 500 with code internal", path, res.StatusCode, body)
			}
		}
	})
}

// The caisse binary has no way to acknowledge a webhook without storing it:
// `caisse serve --verify-only` (a benchmark's mode, which lives in
// caisse-bench) is an unknown flag, so caisse exits with an error before it
// opens its database or listens; `caisse bench` is an unknown command.
func TestNoVerifyOnlyMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--verify-only"}, "flag provided but not defined: -verify-only"},
		{[]string{"serve", "--verify-only=false"}, "flag provided but not defined: -verify-only"},
		{[]string{"bench", "--verify-only"}, `unknown command "bench"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			dbPath := filepath.Join(t.TempDir(), "caisse.db")
			// A caisse that wrongly started would serve until killed here.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), "CAISSE_TEST_BE_CAISSE=1", "CAISSE_ADDR="+addr,
				"CAISSE_DATABASE_URL=sqlite:"+dbPath, "STRIPE_WEBHOOK_SECRET="+testSecret, "CAISSE_ADMIN_TOKEN="+testToken)
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err = cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() <= 0 {
				t.Fatalf("caisse %v ended with %v, want a non-zero exit; output:\n%s", tc.args, err, out.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("caisse %v does not say %q:\n%s", tc.args, tc.want, out.String())
			}
			if strings.Contains(out.String(), "caisse is listening") {
				t.Errorf("caisse %v started listening:\n%s", tc.args, out.String())
			}
			if conn, err := net.Dial("tcp", addr); err == nil {
				conn.Close()
				t.Errorf("something listens on %s after caisse %v exited", addr, tc.args)
			}
			if _, err := os.Stat(dbPath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("caisse %v opened its database (%v)", tc.args, err)
			}
			for _, secret := range []string{testSecret, testToken} {
				if strings.Contains(out.String(), secret) {
					t.Errorf("caisse %v printed a secret", tc.args)
				}
			}
		})
	}
}
