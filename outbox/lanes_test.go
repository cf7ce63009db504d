package outbox_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/database"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/notify"
	"github.com/caisse/caisse/outbox"
)

// hookSecret signs the webhooks of these tests.
var hookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("caisse-outbox-tests-key-32-bytes"))

// endpoint is a shop's webhook endpoint: it counts the requests it gets,
// and answers what the test says.
type endpoint struct {
	url    string
	answer func(w http.ResponseWriter, r *http.Request) // nil: 200
	got    atomic.Int64                                 // requests received
	ended  atomic.Int64                                 // requests answered or given up by caisse
	seen   chan struct{}                                // a request came
}

func startEndpoint(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *endpoint {
	t.Helper()
	e := &endpoint{answer: answer, seen: make(chan struct{}, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer e.ended.Add(1)
		if r.Header.Get("webhook-id") == "" || r.Header.Get("webhook-signature") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		e.got.Add(1)
		e.seen <- struct{}{}
		if e.answer != nil {
			e.answer(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL + "/hooks/caisse"
	return e
}

// hooksTo sends each webhook row to its endpoint, with the real Standard
// Webhooks sender.
func hooksTo(t *testing.T, endpoints ...*endpoint) func(caisse.Delivery) caisse.Sender {
	t.Helper()
	senders := map[string]caisse.Sender{}
	for _, e := range endpoints {
		s, err := notify.New(notify.Config{URL: e.url, Secret: hookSecret})
		if err != nil {
			t.Fatal(err)
		}
		senders[s.Recipient()] = s
	}
	return func(d caisse.Delivery) caisse.Sender {
		if s, ok := senders[d.Recipient]; ok {
			return s
		}
		return nil
	}
}

// countingStore counts the dispatcher's looks for work and its claims.
type countingStore struct {
	outbox.Store
	looks, claims atomic.Int64
}

func (c *countingStore) DueChannels(ctx context.Context, now time.Time, busy map[caisse.Channel][]string) ([]caisse.Channel, error) {
	c.looks.Add(1)
	return c.Store.DueChannels(ctx, now, busy)
}

func (c *countingStore) ClaimDeliveries(ctx context.Context, ch caisse.Channel, now, until time.Time, limit int, busy []string) ([]*caisse.Delivery, error) {
	c.claims.Add(1)
	return c.Store.ClaimDeliveries(ctx, ch, now, until, limit, busy)
}

// One of three endpoints hangs: the other two get all their webhooks while
// it still holds its first ones, and the outbox does not look at the
// hanging endpoint's waiting rows again and again meanwhile (one statement
// per poll, no claim).
func TestHangingEndpointDelaysOnlyItself(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		s := openStore(t, kind.NewURL(t), true)
		ctx := context.Background()
		release := make(chan struct{})
		hanging := startEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		a, b := startEndpoint(t, nil), startEndpoint(t, nil)
		s.Store.Outbox.Webhooks = []string{notify.Recipient(hanging.url), notify.Recipient(a.url), notify.Recipient(b.url)}
		const n = 12
		var msgs []caisse.OutboxMessage
		for i := range n {
			msgs = append(msgs, caisse.OutboxMessage{Key: fmt.Sprint("paid-", i), Channel: caisse.ChannelWebhook, Topic: caisse.TopicTest,
				OrderID: fmt.Sprint("o", i)})
		}
		if err := s.Store.WriteOutbox(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
		counted := &countingStore{Store: s.Store}
		dispatch(t, s, nil, func(d *outbox.Dispatcher) {
			d.Store = counted
			d.Sender = hooksTo(t, hanging, a, b)
		})
		t.Cleanup(func() { close(release) }) // before the dispatcher stops
		until(t, "the healthy endpoints get all theirs", func() bool {
			return a.got.Load() == n && b.got.Load() == n &&
				count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryDelivered}) == 2*n
		})
		// Its lane sends 4 at once (PerChannel), and none has ended: had the
		// others waited for it, its first sends would have timed out and
		// more of its rows been tried.
		if got := hanging.got.Load(); got == 0 || got > 4 || hanging.ended.Load() != 0 {
			t.Fatalf("the hanging endpoint got %d requests, %d ended: it should still hold its first", got, hanging.ended.Load())
		}
		// While only the hanging endpoint has rows waiting, each poll is one
		// statement, and nothing is claimed.
		statements, looks, claims := s.Store.Statements.Load(), counted.looks.Load(), counted.claims.Load()
		until(t, "fifty polls", func() bool { return counted.looks.Load() >= looks+50 })
		polls := counted.looks.Load() - looks
		spent := s.Store.Statements.Load() - statements
		if got := counted.claims.Load() - claims; got != 0 {
			t.Errorf("%d claims in %d polls while only a full lane had rows", got, polls)
		}
		if spent > polls+2 {
			t.Errorf("%d statements in %d polls while only a full lane had rows, want one a poll", spent, polls)
		}
		t.Logf("%d statements in %d polls while one endpoint hangs", spent, polls)
		if got := hanging.got.Load(); got > 4 || hanging.ended.Load() != 0 {
			t.Fatalf("the hanging endpoint got %d requests, %d ended, before the test did", got, hanging.ended.Load())
		}
	})
}

// testClock is a dispatcher's clock that moves only when the test moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// follow moves the clock to each time the row is due again, until it is no
// longer pending, and returns it with the waits it was given.
func follow(t *testing.T, s *database.DB, clock *testClock, id string) (*caisse.Delivery, []time.Duration) {
	t.Helper()
	ctx := context.Background()
	var waits []time.Duration
	for range 200 {
		var d *caisse.Delivery
		until(t, "the row waits or settles", func() bool {
			var err error
			d, err = s.FindDelivery(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return d.Status != caisse.DeliveryPending || d.NextAttemptAt != nil && d.NextAttemptAt.After(clock.Now()) && d.LastError != ""
		})
		if d.Status != caisse.DeliveryPending {
			return d, waits
		}
		waits = append(waits, d.NextAttemptAt.Sub(clock.Now()))
		clock.set(*d.NextAttemptAt)
	}
	t.Fatalf("row %s still pending after 200 waits", id)
	return nil, nil
}

// An endpoint answering 429 with Retry-After: 1 for a minute, then 200: the
// webhook is delivered at its first real attempt, each wait at least the
// backoff's first step (5 s), never 1 s. One that answers 429 for ever is
// failed once the row is older than the backoff table's total, asked a
// bounded number of times.
func TestRetryAfterSpendsNoAttempt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		ctx := context.Background()
		busy := func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}

		s := openStore(t, kind.NewURL(t), true)
		// The clock starts a little ahead, so the row is due at once.
		clock := &testClock{now: time.Now().Add(time.Second)}
		start := clock.Now()
		limited := startEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
			if clock.Now().Before(start.Add(time.Minute)) {
				busy(w)
			}
		})
		s.Store.Outbox.Webhooks = []string{notify.Recipient(limited.url)}
		if err := s.Store.WriteOutbox(ctx, caisse.OutboxMessage{Key: "paid", Channel: caisse.ChannelWebhook, Topic: caisse.TopicTest, OrderID: "o1"}); err != nil {
			t.Fatal(err)
		}
		row := deliveries(t, s, caisse.DeliveryFilter{})[0]
		dispatch(t, s, nil, func(d *outbox.Dispatcher) {
			d.Now = clock.Now
			d.Backoff = outbox.Backoff
			d.Sender = hooksTo(t, limited)
		})
		d, waits := follow(t, s, clock, row.ID)
		if d.Status != caisse.DeliveryDelivered || d.Attempts > 2 {
			t.Fatalf("after a minute of 429 with Retry-After: 1, the row is %s after %d attempts (%s), want delivered with at most 2", d.Status, d.Attempts, d.LastError)
		}
		for _, w := range waits {
			if w < outbox.Backoff[0] {
				t.Errorf("a wait of %s, shorter than the backoff's first step", w)
			}
		}
		t.Logf("429 with Retry-After: 1 for a minute: %d requests, delivered with %d attempts", limited.got.Load(), d.Attempts)

		// For ever 429: failed once older than the table's total (7 s here),
		// like any other row, and the team is told.
		s2 := openStore(t, kind.NewURL(t), true)
		clock2 := &testClock{now: time.Now().Add(time.Second)}
		always := startEndpoint(t, func(w http.ResponseWriter, r *http.Request) { busy(w) })
		s2.Store.Outbox.Webhooks = []string{notify.Recipient(always.url)}
		if err := s2.Store.WriteOutbox(ctx, caisse.OutboxMessage{Key: "paid", Channel: caisse.ChannelWebhook, Topic: caisse.TopicTest, OrderID: "o1"}); err != nil {
			t.Fatal(err)
		}
		row = deliveries(t, s2, caisse.DeliveryFilter{})[0]
		dispatch(t, s2, nil, func(d *outbox.Dispatcher) {
			d.Now = clock2.Now
			d.Backoff = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
			d.Sender = hooksTo(t, always)
		})
		d, _ = follow(t, s2, clock2, row.ID)
		if d.Status != caisse.DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.LastError, "429") || !strings.Contains(d.LastError, "longer than caisse retries") {
			t.Fatalf("a row the endpoint always asks to wait: %+v", d)
		}
		if got := always.got.Load(); got > 8 {
			t.Errorf("the endpoint was asked %d times in 7 s of backoff", got)
		}
		until(t, "the team is told", func() bool {
			for _, a := range deliveries(t, s2, caisse.DeliveryFilter{Channel: caisse.ChannelAlert}) {
				if a.Topic == caisse.TopicDeliveryFailed {
					return true
				}
			}
			return false
		})
	})
}

// At the default CAISSE_RESCUE_AFTER (1m) a lease is kept alive every 20 s,
// well inside it: a send whose beats fail is stopped at least a third of
// the lease before the lease ends.
func TestHeartbeatIsWellInsideTheLease(t *testing.T) {
	t.Parallel()
	lease := time.Minute // CAISSE_RESCUE_AFTER's default
	every := lease / outbox.HeartbeatsPerLease
	if every != 20*time.Second || 2*every >= lease {
		t.Fatalf("a heartbeat every %s for a lease of %s: two beats must fit inside it", every, lease)
	}
}

// unreachableLeases is a store whose database does not answer the
// heartbeat.
type unreachableLeases struct{ outbox.Store }

func (unreachableLeases) KeepLeases(context.Context, map[time.Time][]string, time.Time) (map[string]bool, error) {
	return nil, fmt.Errorf("the database does not answer")
}

// A send whose lease cannot be kept (the database does not answer the
// heartbeat) is stopped before the lease ends, and nothing is recorded: the
// row is sent again once the lease is over, by whichever instance claims it.
func TestSendStopsWhenItsLeaseCannotBeKept(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		s := openStore(t, kind.NewURL(t), true)
		ctx := context.Background()
		stopped := make(chan struct{}, 10)
		var sends atomic.Int64
		blocking := senderFunc(func(ctx context.Context, n caisse.Notice) error {
			if sends.Add(1) > 1 {
				return nil // the second time, it goes through
			}
			<-ctx.Done() // the mail server hangs, until caisse gives up
			stopped <- struct{}{}
			return ctx.Err()
		})
		if err := s.Store.WriteOutbox(ctx, email("m1", "buyer@example.com")); err != nil {
			t.Fatal(err)
		}
		dispatch(t, s, blocking, func(d *outbox.Dispatcher) {
			d.Store = unreachableLeases{s.Store}
			d.Lease = 600 * time.Millisecond
		})
		<-stopped
		if d := deliveries(t, s, caisse.DeliveryFilter{})[0]; d.Status != caisse.DeliveryPending || d.Attempts != 0 {
			t.Fatalf("a send stopped for its lease recorded %+v, want nothing", d)
		}
		until(t, "sent again once the lease is over", func() bool {
			return count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryDelivered}) == 1
		})
	})
}

// senderFunc is a caisse.Sender made of a function.
type senderFunc func(ctx context.Context, n caisse.Notice) error

func (f senderFunc) Send(ctx context.Context, n caisse.Notice) error { return f(ctx, n) }
