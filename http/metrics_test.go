package http

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caisse/caisse"
)

// Scrapes read the store's backlog at most once every backlogFor, however
// many arrive; the processed-events counter's type label is bounded.
func TestMetricsAreCheapToScrape(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var reads atomic.Int64
	m := NewMetrics(func(context.Context) (caisse.EventBacklog, error) {
		reads.Add(1)
		return caisse.EventBacklog{Pending: 7, Failed: 2, OldestPending: now.Add(-90 * time.Second)}, nil
	})
	var mu sync.Mutex
	clock := now
	m.backlog.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	scrape := func() string {
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Error(err)
			return ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}

	m.EventProcessed("checkout.session.completed", caisse.EventProcessed, time.Millisecond)
	m.EventProcessed("customer.created", caisse.EventIgnored, time.Millisecond)
	m.EventProcessed("made.up.type.12345", caisse.EventIgnored, time.Millisecond)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { scrape() })
	}
	wg.Wait()
	out := scrape()
	if n := reads.Load(); n != 1 {
		t.Fatalf("21 scrapes read the backlog %d times, want once", n)
	}
	for _, want := range []string{
		`caisse_events{status="pending"} 7`,
		`caisse_events{status="failed"} 2`,
		`caisse_queue_depth 7`,
		`caisse_dead_letters 2`,
		`caisse_oldest_pending_event_age_seconds 90`,
		`caisse_events_processed_total{status="processed",type="checkout.session.completed"} 1`,
		`caisse_events_processed_total{status="ignored",type="other"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"customer.created", "made.up.type", `caisse_events{status="processed"}`} {
		if strings.Contains(out, unwanted) {
			t.Errorf("metrics show %s", unwanted)
		}
	}

	mu.Lock()
	clock = clock.Add(backlogFor)
	mu.Unlock()
	if out := scrape(); reads.Load() != 2 || !strings.Contains(out, `caisse_oldest_pending_event_age_seconds 95`) {
		t.Fatalf("after %s: %d reads, want 2:\n%s", backlogFor, reads.Load(), out)
	}
}
