package inbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sqlstore"
)

// maxBatch is the most events one ingest statement stores.
const maxBatch = 256

// receipt is one webhook waiting for its event to be committed.
type receipt struct {
	ctx      context.Context
	event    *caisse.Event
	inserted bool
	err      error
	done     chan struct{}
}

// ingest commits events in groups: while one statement commits, the events
// that arrive queue up, and the next statement stores them all.
// Each webhook is still answered only after the commit that holds its event,
// so durability is unchanged; what is shared is the cost of the commit (an
// fsync), which is most of the cost of storing an event.
type ingest struct {
	inbox   *Inbox
	queue   chan *receipt
	start   sync.Once
	stop    chan struct{}
	stopped sync.WaitGroup
	// closing guards closed: no receipt is queued once the committers may
	// have left, or it would never be answered.
	closing sync.RWMutex
	closed  bool
	// waiting counts the webhooks waiting for their event's commit, so
	// that a batch being applied can make way for them (YieldToIngest).
	waiting atomic.Int64
}

// ReceiveEvent stores a verified event, pending, with one statement it may
// share with events received at the same moment, and wakes the applier. A
// duplicate id changes nothing.
func (in *Inbox) ReceiveEvent(ctx context.Context, e *caisse.Event) (bool, error) {
	ig := &in.ingest
	ig.start.Do(func() {
		ig.inbox = in
		ig.queue = make(chan *receipt, 4*maxBatch)
		ig.stop = make(chan struct{})
		for range max(in.Committers, 1) {
			ig.stopped.Add(1)
			go ig.loop()
		}
	})
	r := &receipt{ctx: ctx, event: e, done: make(chan struct{})}
	ig.closing.RLock()
	if ig.closed {
		ig.closing.RUnlock()
		return false, fmt.Errorf("error storing event %s: the store is closed", e.ID)
	}
	ig.waiting.Add(1)
	defer ig.waiting.Add(-1)
	select {
	case ig.queue <- r:
	case <-ctx.Done():
		ig.closing.RUnlock()
		return false, ctx.Err()
	}
	ig.closing.RUnlock()
	<-r.done
	return r.inserted, r.err
}

// StopIngest stops the committers once the events already queued are stored.
func (in *Inbox) StopIngest() {
	ig := &in.ingest
	ig.start.Do(func() {}) // a store that never ingested has nothing to stop
	ig.closing.Lock()
	if ig.stop == nil || ig.closed {
		ig.closed = true
		ig.closing.Unlock()
		return
	}
	ig.closed = true
	ig.closing.Unlock()
	close(ig.stop)
	ig.stopped.Wait()
}

func (ig *ingest) loop() {
	defer ig.stopped.Done()
	for {
		var first *receipt
		select {
		case first = <-ig.queue:
		case <-ig.stop:
			// Answer whatever is still queued before leaving.
			for {
				select {
				case r := <-ig.queue:
					ig.commit([]*receipt{r})
				default:
					return
				}
			}
		}
		batch := []*receipt{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-ig.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		ig.commit(batch)
	}
}

// commit stores a batch with one statement and answers each receipt.
func (ig *ingest) commit(batch []*receipt) {
	in := ig.inbox
	// The statement outlives any one request: a client that hangs up does
	// not undo the others' events.
	ctx := context.WithoutCancel(batch[0].ctx)
	changed, err := in.storeEvents(ctx, batch)
	var noTx *beginError
	switch {
	case err == nil:
	case len(batch) > 1 && !errors.As(err, &noTx):
		// One row the database refuses (an id PostgreSQL cannot store as
		// text, say) fails the batch's one statement, and with it every
		// other event of the batch. Store each with a statement of its own, so
		// only the bad one is refused. A database that cannot be written to
		// at all: the events left are refused without trying.
		changed = nil
		var down error
		for _, r := range batch {
			err := down
			if err == nil {
				var c []changedBody
				c, err = in.storeEvents(ctx, []*receipt{r})
				changed = append(changed, c...)
				if errors.As(err, &noTx) {
					down = err
				}
			}
			if err != nil {
				r.inserted = false
				r.err = fmt.Errorf("error storing event %s: %w", r.event.ID, err)
			}
		}
	default:
		for _, r := range batch {
			r.inserted = false
			r.err = fmt.Errorf("error storing event %s: %w", r.event.ID, err)
		}
	}
	in.warnChanged(changed)
	for _, r := range batch {
		close(r.done)
	}
}

// changedBody is a duplicate delivery whose body differs from the stored one.
type changedBody struct {
	id, typ          string
	stored, received []byte
}

// storeEvents inserts the receipts' events with one statement, which
// commits on its own, and sets each receipt's inserted. It returns the
// duplicates whose body differs from the one stored. Nothing else is
// written: the stored event is the applier's work.
func (in *Inbox) storeEvents(ctx context.Context, batch []*receipt) ([]changedBody, error) {
	st := in.Store
	w, err := st.Driver.Writer(ctx)
	if err != nil {
		return nil, &beginError{err}
	}
	events := make([]*caisse.Event, len(batch))
	for i, r := range batch {
		r.inserted = false
		events[i] = r.event
	}
	inserted, existing, err := sqlstore.InsertEvents(ctx, w, in.now(), events, st.Driver.WritableCTE())
	if err != nil {
		return nil, err
	}
	var duplicates []*receipt
	for _, r := range batch {
		// The same event delivered twice in one batch is stored once: the
		// first of its receipts counts as the insert.
		if inserted[r.event.ID] {
			delete(inserted, r.event.ID)
			r.inserted = true
			if r.event.Decoded != nil {
				in.decoded.keep(r.event.ID, r.event.Payload, r.event.Decoded)
			}
		} else {
			duplicates = append(duplicates, r)
		}
	}
	if len(duplicates) < len(batch) {
		in.Wake()
	}
	// The events are stored: a failure to compare the duplicates' bodies
	// is only logged.
	changed, err := changedBodies(ctx, st.Driver.Reader(), duplicates, existing)
	if err != nil {
		st.Logger.Warn("could not compare duplicate deliveries with the stored events", "error", err.Error())
	}
	return changed, nil
}

// beginError is a database that cannot even be written to (the SQLite
// file is gone), whatever the events.
type beginError struct{ err error }

func (e *beginError) Error() string { return e.err.Error() }
func (e *beginError) Unwrap() error { return e.err }

// changedBodies returns the duplicates whose body differs from the stored
// event's. Stripe retries a lot, so duplicates are common: the stored bodies
// come with the insert where the database can (stored), else are read with
// one statement for all of a batch's duplicates, and only when it has any.
func changedBodies(ctx context.Context, q sqlstore.Querier, duplicates []*receipt, stored map[string][]byte) ([]changedBody, error) {
	if len(duplicates) == 0 {
		return nil, nil
	}
	if stored == nil {
		var ids []string
		for _, r := range duplicates {
			if !slices.Contains(ids, r.event.ID) {
				ids = append(ids, r.event.ID)
			}
		}
		var err error
		if stored, err = sqlstore.StoredPayloads(ctx, q, ids); err != nil {
			return nil, fmt.Errorf("error reading the stored bodies of duplicate events: %w", err)
		}
	}
	var changed []changedBody
	for _, r := range duplicates {
		if p, ok := stored[r.event.ID]; ok && !sameEvent(p, r.event.Payload) {
			changed = append(changed, changedBody{id: r.event.ID, typ: r.event.Type, stored: p, received: r.event.Payload})
		}
	}
	return changed, nil
}

// sameEvent reports whether two bodies are one event. Byte for byte is the
// common case; otherwise two bodies still say the same when they differ only
// in what legitimately changes between deliveries of one event: the layout
// (Stripe's events API pretty-prints what a webhook sends compact, and
// catching up stores the API's bytes) and pending_webhooks, the number of
// endpoints still waiting for the event at the time of sending.
func sameEvent(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	na, errA := normalizeEvent(a)
	nb, errB := normalizeEvent(b)
	return errA == nil && errB == nil && bytes.Equal(na, nb)
}

func normalizeEvent(body []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, err
	}
	delete(fields, "pending_webhooks")
	// Marshal sorts the keys and compacts each value.
	return json.Marshal(fields)
}

// warnChanged logs each duplicate that came with another body. Stripe sends
// the same bytes on every retry, so another body under a known id is a
// replay with altered content (signed with the webhook secret) or a bug in
// what sent it; either way the owner should see it.
func (in *Inbox) warnChanged(changed []changedBody) {
	for _, c := range changed {
		in.Store.Logger.Warn("an event was delivered again with a different body: caisse keeps the body it stored first; "+
			"Stripe resends the same body, so look for what else signs events with the webhook secret, and compare with the event in Stripe's Dashboard",
			"event_id", c.id, "type", c.typ, "stored_sha256", digest(c.stored), "received_sha256", digest(c.received),
			"stored_bytes", len(c.stored), "received_bytes", len(c.received))
	}
}

// digest is a short fingerprint of a body, enough to tell two apart in a log.
func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}
