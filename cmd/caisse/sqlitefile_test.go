package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse/internal/poll"
	"github.com/caisse/caisse/stripe"
)

// Deleting the SQLite files under a running caisse does not go unnoticed:
// SQLite would write on to the unlinked file and every event acknowledged
// from then on would be gone at the next start. caisse refuses new events
// with 503, reports not ready, and logs what happened and what to do.
func TestDeletedSQLiteFile(t *testing.T) {
	t.Parallel()
	a := setup(t, sqliteDB)
	a.process(stripe.Example{Type: "checkout.session.expired", OrderID: "o1"})
	path, _ := a.p.Config.SQLitePath()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}

	payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.expired", OrderID: "o2"})
	if status, body := a.post("/webhooks/stripe", payload, sign(payload, testSecret, time.Now())); status != http.StatusServiceUnavailable {
		t.Fatalf("an event after the file was deleted: %d %s, want 503", status, body)
	}
	// Readiness is checked at most about once a second: poll it.
	poll.Until(t, 30*time.Second, func() error {
		res, err := http.Get(a.url + "/readyz")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz still answers %d %s after the database file was deleted", res.StatusCode, b)
		}
		if !strings.Contains(string(b), "restart caisse") {
			t.Errorf("/readyz: %s, want it to say to restart caisse", b)
		}
		return nil
	})
	lines := a.logLines("the SQLite database file was deleted or replaced")
	if len(lines) != 1 || lines[0]["level"] != "ERROR" || lines[0]["path"] != path || !strings.Contains(lines[0]["msg"].(string), "restart caisse") {
		t.Fatalf("log lines %v, want one error naming the file and saying to restart caisse", lines)
	}
}
