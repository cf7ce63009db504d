package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// An event whose processing keeps failing becomes a dead letter after its
// last attempt, and `caisse events replay` processes it once the cause is fixed.
func TestDeadLetterAndReplay(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putProduct("tee", 3)
		mend := breakTable(t, a, "orders")

		id := a.send(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "tee"})
		if s := a.wait(id)[id]; s != caisse.EventFailed {
			t.Fatalf("status %s, want failed", s)
		}
		e := a.event(id)
		if e.Status != caisse.EventFailed || e.Attempts != 3 || !strings.Contains(e.LastError, "disk is full") {
			t.Fatalf("event %+v, want failed after 3 attempts with the cause", e)
		}
		var failed struct{ Data []caisse.Event }
		a.admin(http.MethodGet, "/api/admin/events?status=failed", nil, &failed)
		if len(failed.Data) != 1 || failed.Data[0].ID != id {
			t.Fatalf("dead letters %+v", failed.Data)
		}
		if p := a.product("tee"); p.Stock != 3 {
			t.Fatalf("a failed event moved stock: %d", p.Stock)
		}

		// Fix the cause and replay every dead letter from the command line.
		mend()
		a.forget(id)
		out, err := a.cli("events", "replay", "--failed", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var replayed struct{ Replayed []string }
		if err := json.Unmarshal([]byte(out), &replayed); err != nil || len(replayed.Replayed) != 1 || replayed.Replayed[0] != id {
			t.Fatalf("replay printed %s (%v)", out, err)
		}
		if s := a.wait(id)[id]; s != caisse.EventProcessed {
			t.Fatalf("after replay: %s", s)
		}
		if o := a.order("o1"); o.Status != caisse.StatusPaid {
			t.Fatalf("order %s after replay", o.Status)
		}
		if p := a.product("tee"); p.Stock != 2 {
			t.Fatalf("stock %d after replay, want 2", p.Stock)
		}
		if e := a.event(id); e.Status != caisse.EventProcessed || e.LastError != "" {
			t.Fatalf("event after replay %+v", e)
		}
	})
}

// When the event cannot be stored, Stripe gets a 503 (and will retry), never
// a 200; once storage is back the same delivery is accepted and processed.
func TestStorageFailureAnswers503(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		mend := breakTable(t, a, "events")
		payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", EventID: "evt_503", OrderID: "o1"})
		status, body := a.post("/webhooks/stripe", payload, sign(payload, testSecret, time.Now()))
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "storage_unavailable") {
			t.Fatalf("answered %d %s, want 503", status, body)
		}
		if strings.Contains(body, "disk is full") || strings.Contains(body, "INSERT") {
			t.Fatalf("the answer leaks internals: %s", body)
		}
		if n := a.eventCount(); n != 0 {
			t.Fatalf("%d events stored", n)
		}
		mend()
		a.deliver(payload)
		if s := a.wait("evt_503")["evt_503"]; s != caisse.EventProcessed {
			t.Fatalf("after recovery: %s", s)
		}
	})
}
