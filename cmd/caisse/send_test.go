package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
)

// send says what caisse did with the event, refuses flags Stripe would
// never send, and says what becomes of an event no order links yet.
func TestSendSaysWhatHappened(t *testing.T) {
	a := setup(t, sqliteDB)
	a.env["CAISSE_ADDR"] = strings.TrimPrefix(a.url, "http://")
	a.putProduct("tee", 2)

	out, err := a.cli("send", "--example", "checkout.session.completed", "--order", "o1", "--product", "tee", "--quantity", "2")
	if err != nil || !strings.Contains(out, "processed · o1: pending → paid · tee stock 2 → 0") {
		t.Fatalf("send: %v\n%s", err, out)
	}
	// A refund for an order caisse has never seen: kept for later.
	out, err = a.cli("send", "--example", "charge.refunded", "--order", "o9")
	if err != nil || !strings.Contains(out, "no order links it yet") {
		t.Fatalf("send for an unknown order: %v\n%s", err, out)
	}
	var sent struct {
		EventID    string             `json:"event_id"`
		Processing caisse.EventStatus `json:"processing"`
		Changes    []struct{ From, To string }
	}
	out, err = a.cli("send", "--example", "charge.refunded", "--order", "o1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &sent); err != nil || sent.Processing != caisse.EventProcessed ||
		len(sent.Changes) != 1 || sent.Changes[0].To != "refunded" {
		t.Fatalf("send --json: %v %+v\n%s", err, sent, out)
	}
	// The same event again: Stripe's duplicate, which changes nothing.
	args := []string{"send", "--example", "checkout.session.completed", "--order", "o3", "--product", "tee", "--event-id", "evt_twice"}
	if out, err := a.cli(args...); err != nil || strings.Contains(out, "duplicate") {
		t.Fatalf("first send: %v\n%s", err, out)
	}
	if out, err := a.cli(args...); err != nil || !strings.Contains(out, "a duplicate: caisse received this event at") ||
		!strings.Contains(out, "nothing changed now") {
		t.Fatalf("the same event again: %v\n%s", err, out)
	}
	// --no-wait returns once the event is stored.
	out, err = a.cli("send", "--example", "checkout.session.expired", "--order", "o2", "--no-wait")
	if err != nil || !strings.Contains(out, "-> 200") {
		t.Fatalf("send --no-wait: %v\n%s", err, out)
	}

	for args, want := range map[string]string{
		"--example charge.dispute.created --dispute-status banana":  "use one of warning_needs_response",
		"--example checkout.session.completed --dispute-status won": "only applies to charge.dispute",
		"--example checkout.session.completed --amount -5":          "from 0 to",
		"--example checkout.session.completed --quantity 0":         "--quantity must be between 1",
		"--example checkout.session.completed --currency euro":      "three letters",
		"--example payment_intent.succeeded --refunded 100":         "only applies to charge.refunded",
		"--example charge.refunded --unpaid":                        "only applies to checkout.session.completed",
	} {
		before := a.eventCount()
		if _, err := a.cli(append([]string{"send"}, strings.Fields(args)...)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("send %s: %v, want an error saying %q", args, err, want)
		}
		if a.eventCount() != before {
			t.Errorf("send %s posted an event", args)
		}
	}
}

// A server that takes the connection and never answers does not hold send
// for longer than --wait.
func TestSendGivesUpOnASilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // held open, never answered
		}
	}()
	env := map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret}
	done := make(chan struct{})
	var code int
	var errOut string
	go func() {
		code, _, errOut = runCaisse(env, "send", "--example", "checkout.session.completed", "--wait", "300ms",
			"--url", "http://"+ln.Addr().String()+"/webhooks/stripe")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("send still waits for a server that never answers")
	}
	if code != 1 || !strings.Contains(errOut, "cannot reach caisse") {
		t.Fatalf("send exited %d: %s", code, errOut)
	}
}
