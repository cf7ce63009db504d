package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/caisse/caisse/stripe"
)

// The same event id delivered with another body is answered 200 like any
// duplicate, keeps the first body, and logs one warning with a digest of
// each; an identical duplicate logs no such warning.
func TestDuplicateWithAnotherBody(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		first, _ := stripe.Build(stripe.Example{Type: "checkout.session.expired", EventID: "evt_same", OrderID: "o1"})
		other, _ := stripe.Build(stripe.Example{Type: "checkout.session.expired", EventID: "evt_same", OrderID: "o2"})
		a.deliver(first)
		a.wait("evt_same")
		a.deliver(first) // an identical duplicate, as Stripe retries
		// The same event as Stripe's events API lists it, pretty-printed, with
		// fewer endpoints waiting for it: the same event.
		var listed map[string]any
		json.Unmarshal(first, &listed)
		listed["pending_webhooks"] = 0
		again, _ := json.MarshalIndent(listed, "", "    ")
		a.deliver(again)
		const warning = "delivered again with a different body"
		if l := a.logLines(warning); len(l) != 0 {
			t.Fatalf("an identical duplicate logged %v", l)
		}
		a.deliver(other) // answers 200
		e, err := a.p.DB.FindEvent(context.Background(), "evt_same")
		if err != nil || string(e.Payload) != string(first) {
			t.Fatalf("stored %s (%v), want the first body", e.Payload, err)
		}
		short := func(b []byte) string { sum := sha256.Sum256(b); return hex.EncodeToString(sum[:])[:12] }
		lines := a.logLines(warning)
		if len(lines) != 1 {
			t.Fatalf("%d warnings, want 1:\n%s", len(lines), a.logs.String())
		}
		if l := lines[0]; l["level"] != "WARN" || l["event_id"] != "evt_same" || l["stored_sha256"] != short(first) || l["received_sha256"] != short(other) {
			t.Fatalf("warning %v, want the digests %s (stored) and %s (received)", l, short(first), short(other))
		}
		a.deliver(first)
		if n := len(a.logLines(warning)); n != 1 {
			t.Fatalf("%d warnings after an identical duplicate, want still 1", n)
		}
		if o := a.order("o1"); len(o.Timeline) != 1 {
			t.Fatalf("order o1's timeline %+v, want the first body applied once", o.Timeline)
		}
		if n := a.eventCount(); n != 1 {
			t.Fatalf("%d events stored, want 1", n)
		}
	})
}
