package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
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
