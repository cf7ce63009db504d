package sqlstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
)

// ticket is one job waiting for the batch that applies it.
type ticket struct {
	ctx     context.Context
	job     *river.Job[ProcessEventArgs]
	ev      *caisse.Event
	outcome caisse.Outcome
	status  caisse.EventStatus
	err     error
	done    chan struct{}
	// lead is closed when this ticket's worker is to commit the next
	// batches: the worker that did so before has its own answer.
	lead chan struct{}
}

// batcher applies the jobs that workers hand it several to a transaction.
// There is no goroutine of its own: the first worker to find it idle
// becomes the one that commits, and goes on committing the jobs that
// arrived meanwhile until its own job is answered; then it hands the turn to
// a waiting worker, so no worker's job runs for longer than a batch or two,
// however long the work keeps coming. Each job still completes in the
// transaction that holds its effects.
type batcher struct {
	mu      sync.Mutex
	pending []*ticket
	running bool
}

// processBatched applies job in a transaction it may share with other jobs.
func (s *Store) processBatched(ctx context.Context, job *river.Job[ProcessEventArgs]) (*caisse.Event, caisse.Outcome, caisse.EventStatus, error) {
	b := &s.batcher
	t := &ticket{ctx: ctx, job: job, done: make(chan struct{}), lead: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, t)
	if b.running {
		b.mu.Unlock()
		select {
		case <-t.done:
			return t.ev, t.outcome, t.status, t.err
		case <-t.lead:
		}
	} else {
		b.running = true
		b.mu.Unlock()
	}
	for {
		b.mu.Lock()
		select {
		case <-t.done:
			// Answered: the next waiting worker commits from here on.
			if len(b.pending) > 0 {
				close(b.pending[0].lead)
			} else {
				b.running = false
			}
			b.mu.Unlock()
			return t.ev, t.outcome, t.status, t.err
		default:
		}
		n := min(len(b.pending), max(s.BatchSize, 1))
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()
		s.ingest.yield()
		if done := s.applyBatch(batch); done < len(batch) {
			// The rest goes first in the next transaction.
			b.mu.Lock()
			b.pending = append(batch[done:len(batch):len(batch)], b.pending...)
			b.mu.Unlock()
		}
	}
}

// minShare is how many jobs a processing transaction applies before it
// makes way for webhooks waiting to store their events.
const minShare = 8

// applyBatch applies each ticket's job under its own savepoint, so one
// event's failure undoes only that event, and commits them all at once.
// It answers the tickets it handled, which are the first done of the batch:
// once webhooks are waiting for the database, it commits early and leaves
// the rest, so that a burst of processing never holds up acknowledgements
// for more than a few events' time.
func (s *Store) applyBatch(batch []*ticket) (done int) {
	// The transaction serves every ticket: one worker's cancelled context
	// must not undo the others' work.
	ctx := context.WithoutCancel(batch[0].ctx)
	done = len(batch)
	defer func() {
		for _, t := range batch[:done] {
			close(t.done)
		}
	}()
	tx, err := s.Driver.Begin(ctx)
	if err != nil {
		for _, t := range batch {
			t.err = fmt.Errorf("error starting to process event %s: %w", t.job.Args.EventID, err)
		}
		return done
	}
	defer tx.Rollback(ctx)
	applied := 0
	for i, t := range batch {
		if i >= minShare && s.ingest.waiting.Load() > 0 {
			batch, done = batch[:i], i
			break
		}
		if err := t.ctx.Err(); err != nil {
			t.err = err
			continue
		}
		var undone bool
		if undone, t.err = s.applySavepoint(ctx, tx, t); t.err == nil {
			applied++
		} else if !undone {
			// The failed job's writes could not be undone: commit nothing.
			for _, o := range batch {
				if o.err == nil {
					o.err = fmt.Errorf("error processing event %s: an event processed with it failed: %w", o.job.Args.EventID, t.err)
					o.status = ""
				}
			}
			return done
		}
	}
	if applied == 0 {
		return done
	}
	// The jobs complete with their effects, all at once.
	var jobs []*river.Job[ProcessEventArgs]
	for _, t := range batch {
		if t.err == nil {
			jobs = append(jobs, t.job)
		}
	}
	err = tx.CompleteJobs(ctx, jobs)
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err == nil {
		s.wakeOutbox()
	}
	if err != nil {
		for _, t := range batch {
			if t.err == nil {
				t.err = fmt.Errorf("error committing event %s and its job: %w", t.job.Args.EventID, err)
				t.status = ""
			}
		}
	}
	return done
}

// applySavepoint applies one ticket's job between a savepoint and its
// release, rolling back to the savepoint when the job fails or panics.
// undone is false when a failed job's writes may remain in the transaction.
func (s *Store) applySavepoint(ctx context.Context, tx Tx, t *ticket) (undone bool, err error) {
	if _, err := tx.Exec(ctx, `SAVEPOINT job`); err != nil {
		return false, fmt.Errorf("error starting to process event %s: %w", t.job.Args.EventID, err)
	}
	undone = true
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("processing panicked: %v", r)
		}
		if err != nil {
			t.status = ""
			// What the job wrote is undone; the rest of the batch stands.
			if _, rerr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT job`); rerr != nil {
				undone, err = false, fmt.Errorf("%w (and undoing it failed: %v)", err, rerr)
				return
			}
		}
		if _, rerr := tx.Exec(ctx, `RELEASE SAVEPOINT job`); rerr != nil {
			if err == nil {
				err = fmt.Errorf("error finishing event %s: %w", t.job.Args.EventID, rerr)
			}
			undone = false
		}
	}()
	t.ev, t.outcome, t.status, err = s.applyJob(t.ctx, tx, t.job)
	return undone, err
}

// JobsWaiting is how many jobs wait for a processing transaction to take
// them, besides the ones it is applying.
func (s *Store) JobsWaiting() int {
	s.batcher.mu.Lock()
	defer s.batcher.mu.Unlock()
	return len(s.batcher.pending)
}
