package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
)

// Queue is the River client of a database, with the lifecycle both
// databases share.
type Queue[TTx any] struct {
	Client  *river.Client[TTx]
	started bool
}

// Start starts the workers that process stored events.
func (q *Queue[TTx]) Start(ctx context.Context) error {
	if err := q.Client.Start(ctx); err != nil {
		return fmt.Errorf("error starting the workers: %w", err)
	}
	q.started = true
	return nil
}

// Stop stops the store's ingest committers, then lets running jobs finish
// (or, once ctx ends, cancels them; River hands them back for a later
// attempt) and stops the workers.
func (q *Queue[TTx]) Stop(ctx context.Context, s *Store) error {
	if !q.started {
		return nil
	}
	s.StopIngest()
	err := q.Client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return q.Client.StopAndCancel(context.Background())
	}
	return err
}

// CheckReady reports an error when migrations are left to apply or the
// database does not take writes.
func (s *Store) CheckReady(ctx context.Context, p *goose.Provider) error {
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	if pending {
		return errors.New("migrations are pending: run caisse migrate")
	}
	return s.Probe(ctx)
}
