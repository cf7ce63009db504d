package main

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/scenario"
)

// snapshot is the shop's state that must not depend on event order: every
// order's derived fields and every product's stock. Timestamps and timelines
// are left out, since the path to the same state may differ.
func (a *app) snapshot() string {
	a.t.Helper()
	var orders struct{ Data []caisse.Order }
	var products struct{ Data []caisse.Product }
	a.admin(http.MethodGet, "/api/admin/orders?limit=1000", nil, &orders)
	a.admin(http.MethodGet, "/api/admin/products?limit=1000", nil, &products)
	state := map[string]any{}
	for _, o := range orders.Data {
		o.CreatedAt, o.UpdatedAt, o.Timeline = time.Time{}, time.Time{}, nil
		state["order "+o.ID] = o
	}
	for _, p := range products.Data {
		state["product "+p.ID] = [2]int64{p.Stock, p.Reserved}
	}
	b, _ := json.MarshalIndent(state, "", " ")
	return string(b)
}

func (a *app) load(s scenario.Scenario) {
	a.t.Helper()
	for _, p := range s.Products {
		if code := a.admin(http.MethodPut, "/api/admin/products/"+p.ID,
			caisse.NewProductUpdate(p.Name, p.Price, "eur", p.Stock), nil); code != http.StatusOK {
			a.t.Fatalf("PUT product: %d", code)
		}
	}
}

// Any permutation of a realistic event set, each event delivered one or more
// times, ends in exactly the state of the events applied in their natural order.
func TestConvergence(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		seed := uint64(20261123)
		rng := rand.New(rand.NewPCG(seed, seed))
		s := scenario.Generate(rng, 30, 4)

		natural := setup(t, db)
		natural.load(s)
		for _, e := range s.Events {
			natural.deliver(e.Payload)
			natural.wait(e.ID)
		}
		want := natural.snapshot()

		for run := range 10 {
			t.Run("", func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(seed, uint64(run)))
				a := setup(t, db)
				a.load(s)
				events := s.Shuffled(rng, 3)
				// Half the runs deliver one at a time in the shuffled order; the
				// others deliver concurrently, as Stripe does.
				if run%2 == 0 {
					for _, e := range events {
						a.deliver(e.Payload)
						a.wait(e.ID)
					}
				} else {
					var wg sync.WaitGroup
					for w := range 8 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := w; i < len(events); i += 8 {
								a.deliver(events[i].Payload)
							}
						}()
					}
					wg.Wait()
				}
				ids := make([]string, len(s.Events))
				for i, e := range s.Events {
					ids[i] = e.ID
				}
				for id, status := range a.wait(ids...) {
					if status != caisse.EventProcessed {
						t.Fatalf("event %s ended %s", id, status)
					}
				}
				if got := a.snapshot(); got != want {
					t.Fatalf("run %d (%d deliveries) diverged from the natural order:\n got %s\nwant %s", run, len(events), got, want)
				}
			})
		}
	})
}
