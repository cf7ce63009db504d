// Package inbox receives verified Stripe events and applies them. The
// events table is the inbox: ingest stores each event as pending with one
// statement, shared by the events that arrive together, and an applier
// claims batches of pending events, applies them with the pure rules in
// memory over a view of what they touch, and writes the changes back with
// a few set-based statements (see applier.go). The SQL lives in the store
// (internal/sqlstore); this package is the flow.
//
// It must not send anything nor call Stripe: what the rules decide to tell is
// written as outbox rows in the same transaction, and the outbox sends them.
package inbox

import (
	"hash/crc32"
	"sync"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sqlstore"
)

// Inbox is the ingest and the applier of one store.
type Inbox struct {
	Store *sqlstore.Store
	// Decode reads an event's facts; the stripe package provides it. The
	// event carries those read on receipt (Decoded) when this process
	// received it.
	Decode func(*caisse.Event) (caisse.EventFacts, error)
	// Processed is called after each attempt at an event, for metrics.
	Processed func(Report)

	// MaxAttempts is how many times an event is tried before it becomes a
	// dead letter.
	MaxAttempts int
	// Backoff is how long to wait before an event's next attempt, after
	// attempts failed ones (nil: EventBackoff).
	Backoff func(attempts int) time.Duration
	// Appliers is how many batches this process applies at once. Where
	// there is one writer (SQLite), one; where transactions run side by
	// side (PostgreSQL), two keep both the process and the database busy.
	Appliers int
	// BatchSize is the most events one applying transaction claims.
	BatchSize int
	// Linger is how long an applier waits after a batch that took every
	// pending event, for the next to gather more: a batch costs about the
	// same whatever its size, and events are applied at most this much
	// later.
	Linger time.Duration
	// YieldToIngest makes a batch commit early when webhooks wait to store
	// their events: where one connection writes (SQLite), acknowledging
	// must not wait for a whole batch.
	YieldToIngest bool
	// Committers is how many ingest statements may run at once; events
	// that arrive while they run share the next one.
	Committers int
	// Holding, if set, is told which locks a batch holds (held) and when it
	// lets them go, for tests that check two batches never hold one lock.
	Holding func(keys []string, held bool)

	ingest  ingest
	applier applier
	decoded decoded
}

// decoded holds the facts read on receipt of the events this process
// stored, until the applier claims them: an event is parsed once, on the
// webhook, not again to be applied. It is a cache: an event it does not
// hold (received before a restart, by another process, replayed) has its
// body read again, to the same facts. Each entry keeps a checksum of the
// body it was read from: a body changed since (redacted when a customer
// is forgotten) is read again, so a replay never applies what the body no
// longer says. The checksum is needed: an entry can outlive its claim
// (the applier may claim an event before its receipt puts its facts here),
// and a replay long after then finds it.
type decoded struct {
	mu    sync.Mutex
	facts map[string]decodedEntry
}

// decodedEntry is an event's facts with the length and CRC-32 of the body
// they were read from.
type decodedEntry struct {
	facts *caisse.DecodedFacts
	size  int
	sum   uint32
}

// maxDecoded bounds the facts kept: where other processes apply what this
// one receives, nothing takes them, and they are dropped all at once when
// the bound is reached.
const maxDecoded = 8192

func (d *decoded) keep(id string, body []byte, f *caisse.DecodedFacts) {
	e := decodedEntry{facts: f, size: len(body), sum: crc32.ChecksumIEEE(body)}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.facts == nil || len(d.facts) >= maxDecoded {
		d.facts = make(map[string]decodedEntry)
	}
	d.facts[id] = e
}

// take returns the facts kept for an event, if they were read from this
// body (nil: none), and forgets them.
func (d *decoded) take(id string, body []byte) *caisse.DecodedFacts {
	d.mu.Lock()
	e, ok := d.facts[id]
	delete(d.facts, id)
	d.mu.Unlock()
	if !ok || e.size != len(body) || e.sum != crc32.ChecksumIEEE(body) {
		return nil
	}
	return e.facts
}

// New returns the inbox of a store, with caisse's defaults. Its applier
// also wakes when the store says events were replayed.
func New(s *sqlstore.Store) *Inbox {
	in := &Inbox{
		Store:       s,
		MaxAttempts: 10,
		Appliers:    1,
		BatchSize:   256,
		Linger:      20 * time.Millisecond,
		Committers:  1,
		applier:     applier{wake: make(chan struct{}, 1)},
	}
	return in
}

// Wake tells an idle applier that events wait.
func (in *Inbox) Wake() {
	select {
	case in.applier.wake <- struct{}{}:
	default:
	}
}

// Stop stops storing events once those already queued are stored, then
// stops the applier once its batches are committed.
func (in *Inbox) Stop() {
	in.StopIngest()
	in.StopApplier()
}

func (in *Inbox) now() time.Time { return in.Store.Now().UTC() }

// retry runs fn again while it loses a deadlock or a serialization race,
// which is not the events' fault, a few times at most.
func (in *Inbox) retry(fn func() error) error {
	for try := 0; ; try++ {
		err := fn()
		if err == nil || try >= sqlstore.MaxTxRetries || !in.Store.Driver.Retryable(err) {
			return err
		}
	}
}
