package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/stripe"
)

// An event the database refuses, received at the same moment as many good
// ones (so that it shares their group commit), fails alone: every good event
// is stored and processed.
func TestBadEventDoesNotFailItsGroup(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		b := open(t, kind, kind.NewURL(t))
		ctx := context.Background()
		event := func(id string) *caisse.Event {
			payload, err := stripe.Build(stripe.Example{Type: "checkout.session.expired", EventID: id, OrderID: "o_" + id})
			if err != nil {
				t.Fatal(err)
			}
			e, err := stripe.DecodeEvent(payload)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		// A missing body breaks the events table's NOT NULL on both
		// databases. A NUL byte in the id is what PostgreSQL's text refuses
		// (SQLite stores it like any other character).
		noBody := event("evt_no_body")
		noBody.Payload = nil
		bad := []*caisse.Event{noBody}
		if kind == dbtest.Postgres {
			nul := event("evt_nul")
			nul.ID = "evt_nul\x00byte"
			bad = append(bad, nul)
		}
		var good []*caisse.Event
		var ids []string
		for i := range 200 {
			e := event(fmt.Sprintf("evt_good_%d", i))
			good = append(good, e)
			ids = append(ids, e.ID)
		}
		all := append(append([]*caisse.Event{}, good[:100]...), bad...)
		all = append(all, good[100:]...)

		errs := make([]error, len(all))
		inserted := make([]bool, len(all))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, e := range all {
			wg.Go(func() {
				<-start
				inserted[i], errs[i] = b.ReceiveEvent(ctx, e)
			})
		}
		close(start)
		wg.Wait()
		failed := 0
		for i, e := range all {
			isBad := e == noBody || len(bad) > 1 && e == bad[1]
			switch {
			case isBad && errs[i] == nil:
				t.Errorf("the bad event %q was stored", e.ID)
			case !isBad && (errs[i] != nil || !inserted[i]):
				failed++
				if failed <= 3 {
					t.Errorf("good event %s: inserted %v, %v", e.ID, inserted[i], errs[i])
				}
			}
		}
		if failed > 0 {
			t.Fatalf("%d of %d good events were refused with a bad one", failed, len(good))
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for id, r := range waitAll(t, []*bundle{b}, ids) {
			if r.Status != caisse.EventProcessed {
				t.Errorf("event %s: %s (%v)", id, r.Status, r.Err)
			}
		}
		if _, err := b.FindEvent(ctx, "evt_no_body"); caisse.ErrorCode(err) != caisse.ENOTFOUND {
			t.Errorf("the event without a body: %v, want not found", err)
		}
	})
}
