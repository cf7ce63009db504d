package inbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sqlstore"
)

// The events table is the inbox: ingest stores each event as pending, and
// an applier claims a batch of pending, due events in a transaction, loads
// every fact, order and product they touch in a few set-based reads (a
// view), runs the pure rules on each event in memory, writes what changed
// back with a few set-based statements, marks the events done and commits.
// No event is a job of its own; one transaction and a dozen statements
// serve a whole batch.
//
// On PostgreSQL, the claim locks the batch's event rows (FOR UPDATE SKIP
// LOCKED), so appliers of several instances take different events, and
// advisory locks on the batch's payments and orders make two batches
// about one payment run one after the other. A claim lasts as long as its
// transaction: an instance that dies leaves its events pending, for any
// other to take. On SQLite the one write connection excludes every other
// writer, and a batch makes way for the webhooks waiting to store their
// events.

// minShare is how many events a batch applies before it makes way for
// webhooks waiting to store their events (where they share the one write
// connection), and shareTime how long it may apply them while webhooks
// wait: an acknowledgement waits for at most one such batch and its
// commit.
const (
	minShare  = 8
	shareTime = 5 * time.Millisecond
)

// applier is the state of the inbox's applying loops.
type applier struct {
	wake chan struct{}
	// logged is when a failure to apply was last logged (Unix nanoseconds;
	// 0: none since the last success).
	logged atomic.Int64
	// limit is how many events the next batch claims, where batches make
	// way for webhooks (0: BatchSize).
	limit   atomic.Int64
	mu      sync.Mutex
	stop    chan struct{}
	stopped sync.WaitGroup
}

// EventBackoff is how long an event waits after attempts failed attempts:
// attempts⁴ seconds (1 s, 16 s, 81 s, … about 4 hours in all for ten
// attempts), at most a day, give or take a tenth so that events that failed
// together are not all tried again at the same moment.
func EventBackoff(attempts int) time.Duration {
	a := float64(max(attempts, 1))
	d := min(a*a*a*a*float64(time.Second), float64(24*time.Hour))
	return time.Duration(d * (0.9 + 0.2*rand.Float64()))
}

func (in *Inbox) backoff(attempts int) time.Duration {
	if in.Backoff != nil {
		return in.Backoff(attempts)
	}
	return EventBackoff(attempts)
}

// StartApplier starts the loops that apply stored events.
func (in *Inbox) StartApplier() {
	a := &in.applier
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stop != nil {
		return
	}
	a.stop = make(chan struct{})
	for range max(in.Appliers, 1) {
		a.stopped.Add(1)
		go in.applyLoop(a.stop)
	}
}

// StopApplier stops the applying loops once their batches are committed.
func (in *Inbox) StopApplier() {
	a := &in.applier
	a.mu.Lock()
	stop := a.stop
	a.stop = nil
	a.mu.Unlock()
	if stop != nil {
		close(stop)
		a.stopped.Wait()
	}
}

func (in *Inbox) applyLoop(stop chan struct{}) {
	defer in.applier.stopped.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	// sleep waits for d, or for a wake when wake is set; it reports false
	// once the loop is to stop.
	sleep := func(d time.Duration, wake bool) bool {
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(d)
		var woken chan struct{}
		var replayed <-chan struct{}
		if wake {
			woken, replayed = in.applier.wake, in.Store.EventsWake()
		}
		select {
		case <-stop:
			return false
		case <-woken:
		case <-replayed:
		case <-timer.C:
		}
		return true
	}
	failures := 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		claimed, more, due, err := in.ApplyBatch(context.Background())
		if err != nil {
			// The database is down: wait twice as long each time, from a
			// tenth of a second up to five (new events still wake the
			// applier at once).
			failures++
			// One line for all the loops, then one every half minute.
			if last := in.applier.logged.Load(); time.Since(time.Unix(0, last)) >= 30*time.Second && in.applier.logged.CompareAndSwap(last, time.Now().UnixNano()) {
				in.Store.Logger.Error("could not apply events: is the database down? trying again shortly", "error", err.Error())
			}
			if !sleep(min(100*time.Millisecond<<min(failures-1, 6), 5*time.Second), true) {
				return
			}
			continue
		}
		if failures > 0 && in.applier.logged.Swap(0) != 0 {
			in.Store.Logger.Info("applying events again")
		}
		failures = 0
		switch {
		case more:
			// More wait: go on, and let another applier join in.
			in.Wake()
		case claimed > 0 && in.Linger > 0:
			// Events are coming in: let the next batch gather them for a
			// moment. A batch's cost is mostly its dozen statements and
			// its commit, whatever its size.
			if !sleep(in.Linger, false) {
				return
			}
		default:
			wait := in.Store.PollInterval
			if due > 0 && due < wait {
				wait = due
			}
			if !sleep(wait, true) {
				return
			}
		}
	}
}

// item is one claimed event on its way through a batch.
type item struct {
	ev      *caisse.Event
	facts   caisse.EventFacts
	outcome caisse.Outcome
	status  caisse.EventStatus
	// reason is why an ignored event counts for nothing, or what made an
	// attempt fail.
	reason string
	err    error
	// next is when a failed event is tried again.
	next time.Time
}

// isolate is a batch that failed as a whole in a way one of its events may
// have caused: each of its events is applied alone.
type isolate struct {
	ids []string
	err error
}

func (e *isolate) Error() string { return e.err.Error() }
func (e *isolate) Unwrap() error { return e.err }

// ApplyBatch applies one batch of pending, due events and reports how many
// it claimed, whether more may be waiting, and when the soonest of the
// events it retried is due. An event that fails is retried later with backoff, or becomes a dead
// letter; it never undoes or delays the rest of its batch.
func (in *Inbox) ApplyBatch(ctx context.Context) (claimed int, more bool, due time.Duration, err error) {
	limit := max(in.BatchSize, 1)
	if in.YieldToIngest {
		// As many as the last batches applied before making way, twice
		// that when they had time for all: a batch that claims far more
		// than it can apply decodes and loads the rest for nothing.
		if n := int(in.applier.limit.Load()); n > 0 {
			limit = min(limit, n)
		}
	}
	start := time.Now()
	var items []*item
	err = in.retry(func() (err error) {
		items, claimed, err = in.applyTx(ctx, limit, "")
		return err
	})
	if iso, ok := err.(*isolate); ok {
		items, err = nil, nil
		if len(iso.ids) == 1 {
			// It was alone already: record the failure.
			if it := in.recordFailure(ctx, iso.ids[0], iso.err); it != nil {
				items = append(items, it)
			}
		} else {
			in.Store.Logger.Warn("a batch of events failed as a whole: applying each alone", "events", len(iso.ids), "error", iso.err.Error())
			for _, id := range iso.ids {
				items = append(items, in.applyAlone(ctx, id)...)
			}
		}
	}
	if err != nil {
		return claimed, false, 0, err
	}
	for _, it := range items {
		if it.err != nil && it.status == caisse.EventPending {
			if d := time.Until(it.next); due == 0 || d < due {
				due = max(d, time.Millisecond)
			}
		}
		in.report(Report{Event: it.ev, Status: it.status, Err: it.err, Duration: time.Since(start), Outcome: it.outcome})
	}
	if in.YieldToIngest && err == nil && claimed > 0 {
		next := 2 * claimed
		if len(items) < claimed {
			next = len(items)
		}
		in.applier.limit.Store(int64(max(next, minShare)))
	}
	return claimed, claimed >= limit || len(items) < claimed, due, nil
}

// applyAlone applies one claimed event in a transaction of its own. When
// even that fails as a whole, the failure is recorded on the event, in a
// transaction of its own.
func (in *Inbox) applyAlone(ctx context.Context, id string) []*item {
	var items []*item
	err := in.retry(func() (err error) {
		items, _, err = in.applyTx(ctx, 1, id)
		return err
	})
	if iso, ok := err.(*isolate); ok {
		err = iso.err
	}
	if err == nil {
		return items
	}
	it := in.recordFailure(ctx, id, err)
	if it == nil {
		return nil
	}
	return []*item{it}
}

// applyTx claims up to limit events (or the event id), applies them and
// commits. It returns the events it finished, and how many it claimed:
// fewer are finished when the batch made way for webhooks.
func (in *Inbox) applyTx(ctx context.Context, limit int, id string) ([]*item, int, error) {
	tx, err := in.Store.Driver.Begin(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("error starting to apply events: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	now := in.now()
	evs, err := sqlstore.Claim(ctx, tx, now, limit, id)
	if err != nil || len(evs) == 0 {
		return nil, 0, err
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	// A batch-wide failure may come from one event (a value the database
	// refuses): its events are then applied one by one, and the failure
	// of one alone is recorded on it.
	fail := func(err error) ([]*item, int, error) {
		if !in.Store.Driver.Retryable(err) {
			return nil, len(evs), &isolate{ids: ids, err: err}
		}
		return nil, len(evs), err
	}

	items := make([]*item, len(evs))
	var facts []caisse.Fact
	for i, e := range evs {
		it := &item{ev: e}
		items[i] = it
		// The facts read when this process received the event, if it did
		// and the body is the same: it is not parsed again.
		e.Decoded = in.decoded.take(e.ID, e.Payload)
		it.facts, it.err = in.decode(e)
		if it.err == nil && !it.facts.Ignored {
			facts = append(facts, it.facts.Facts...)
		}
	}
	v := in.Store.NewView(tx)
	if err := v.Preload(ctx, facts); err != nil {
		return fail(fmt.Errorf("error loading what the events touch: %w", err))
	}
	// Tests watch the locks a batch holds: it lets go of them just before
	// it commits (or, failing, rolls back), so a watcher never sees the
	// next holder take a lock before this one let go.
	release := func() {}
	if in.Holding != nil {
		keys := v.HeldKeys()
		in.Holding(keys, true)
		var once sync.Once
		release = func() { once.Do(func() { in.Holding(keys, false) }) }
		defer release()
	}
	started := time.Now()
	for i, it := range items {
		if i >= minShare && in.YieldToIngest && time.Since(started) > shareTime && in.ingest.waiting.Load() > 0 {
			// Webhooks wait for the write connection: commit what is done,
			// and leave the rest to the next batch.
			items = items[:i]
			break
		}
		switch {
		case it.err != nil:
		case it.facts.Ignored:
			it.status, it.reason = caisse.EventIgnored, it.facts.Reason
		default:
			v.Mark(it.ev.ID)
			if it.outcome, it.err = in.applyRules(ctx, v, it); it.err != nil {
				v.Undo()
				if caisse.ErrorCode(it.err) == caisse.EINTERNAL {
					// The error may come from the database, whose
					// transaction then refuses every later statement
					// (PostgreSQL): apply each event alone, and record
					// the failure of one alone in a transaction of its own.
					return fail(it.err)
				}
			} else if it.outcome.Ignored != "" {
				it.status, it.reason = caisse.EventIgnored, it.outcome.Ignored
			} else {
				it.status = caisse.EventProcessed
			}
		}
		if it.err != nil {
			in.failed(v, it, now)
		}
	}
	if err := v.Flush(ctx); err != nil {
		return fail(err)
	}
	if err := sqlstore.Finish(ctx, tx, finished(items)); err != nil {
		return fail(err)
	}
	release()
	if err := tx.Commit(ctx); err != nil {
		return fail(fmt.Errorf("error committing applied events: %w", err))
	}
	in.Store.WakeOutbox()
	return items, len(evs), nil
}

// decode reads an event's facts; a decoder that panics fails the event,
// not the batch.
func (in *Inbox) decode(e *caisse.Event) (ef caisse.EventFacts, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading the event panicked: %v", r)
		}
	}()
	return in.Decode(e)
}

// applyRules runs the rules on one event; rules that panic fail the
// event, not the batch.
func (in *Inbox) applyRules(ctx context.Context, v *sqlstore.View, it *item) (out caisse.Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("processing panicked: %v", r)
		}
	}()
	out, err = in.Store.Rules.Apply(ctx, v, it.ev, it.facts)
	if err != nil {
		if caisse.ErrorCode(err) == caisse.EINTERNAL {
			err = fmt.Errorf("error applying event %s: %w", it.ev.ID, err)
		}
		return out, err
	}
	if out.OrderID != "" {
		it.ev.OrderID = out.OrderID
	}
	return out, nil
}

// failed decides what becomes of an event whose attempt failed: tried again
// after a backoff, or, after its last attempt or when trying again cannot
// help (a signed event that makes no sense), a dead letter the team is
// alerted about, in the same transaction.
func (in *Inbox) failed(v *sqlstore.View, it *item, now time.Time) {
	it.reason = failureText(it.err)
	attempts := it.ev.Attempts + 1
	if caisse.ErrorCode(it.err) == caisse.EINVALID || attempts >= max(in.MaxAttempts, 1) {
		it.status = caisse.EventFailed
		ev := *it.ev
		ev.Attempts = attempts
		v.AddDeadLetter(&ev, it.reason)
		return
	}
	it.status = caisse.EventPending
	it.next = now.Add(in.backoff(attempts))
}

// recordFailure counts a failed attempt of an event that could not even be
// applied alone, in a transaction of its own, and makes it a dead letter
// after its last attempt. It returns the event as recorded, or nil when it
// is no longer pending (another instance finished it meanwhile).
func (in *Inbox) recordFailure(ctx context.Context, id string, cause error) *item {
	ctx = context.WithoutCancel(ctx)
	var it *item
	err := in.Store.RetryTx(ctx, func(tx sqlstore.Tx) error {
		it = nil
		now := in.now()
		evs, err := sqlstore.Claim(ctx, tx, now, 1, id)
		if err != nil || len(evs) == 0 {
			return err
		}
		it = &item{ev: evs[0], err: cause}
		v := in.Store.NewView(tx)
		in.failed(v, it, now)
		if err := v.Flush(ctx); err != nil {
			return err
		}
		return sqlstore.Finish(ctx, tx, finished([]*item{it}))
	})
	if err != nil {
		in.Store.Logger.Error("could not record a failed attempt", "event_id", id, "error", err.Error(), "cause", failureText(cause))
		return nil
	}
	return it
}

// finished is what the store records of each item.
func finished(items []*item) []sqlstore.Finished {
	out := make([]sqlstore.Finished, len(items))
	for i, it := range items {
		out[i] = sqlstore.Finished{Event: it.ev, Status: it.status, Reason: it.reason, Next: it.next}
	}
	return out
}
