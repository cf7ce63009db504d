// Package queue is River's client on a database as caisse runs it: made
// when the database opens, started and stopped with the inbox, its tables
// migrated before caisse's, and its web UI. The sqlite and postgres
// packages each make one over their River driver.
//
// It must not choose River's workers or periodic jobs (package payments
// makes that configuration) nor run caisse's SQL (package sqlstore does).
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/caisse/caisse/internal/jobsui"
)

// Jobs is a database's job queue, whatever its driver.
type Jobs interface {
	// Start starts River's workers: periodic jobs and refunds.
	Start(ctx context.Context) error
	// Stop lets running jobs finish (or, once ctx ends, cancels them;
	// River hands them back for a later attempt) and stops the workers.
	Stop(ctx context.Context) error
	// JobsUI returns River's web UI for the jobs, to be mounted at prefix
	// (see jobsui.New). It runs until End.
	JobsUI(logger *slog.Logger, prefix string) (http.Handler, error)
	// End stops the web UI's background work, before the database closes.
	End()
	// Count counts the jobs of these kinds in these states (up to 10,000).
	Count(ctx context.Context, kinds []string, states []rivertype.JobState) (int, error)
}

// Queue is River's client over one database's driver.
type Queue[TTx any] struct {
	// Client is River's client, to insert jobs in a transaction.
	Client  *river.Client[TTx]
	started bool
	ui      jobsui.Lifetime
}

// New returns the queue of a database with River's configuration config;
// without one, the queue only inserts jobs (and Start fails).
func New[TTx any](driver riverdriver.Driver[TTx], config *river.Config) (*Queue[TTx], error) {
	if config == nil {
		config = &river.Config{Logger: slog.New(slog.DiscardHandler)}
	}
	client, err := river.NewClient(driver, config)
	if err != nil {
		return nil, fmt.Errorf("error setting up the job queue: %w", err)
	}
	return &Queue[TTx]{Client: client}, nil
}

// Start starts River's workers: periodic jobs and refunds.
func (q *Queue[TTx]) Start(ctx context.Context) error {
	if err := q.Client.Start(ctx); err != nil {
		return fmt.Errorf("error starting the workers: %w", err)
	}
	q.started = true
	return nil
}

// Stop lets running jobs finish (or, once ctx ends, cancels them; River
// hands them back for a later attempt) and stops the workers.
func (q *Queue[TTx]) Stop(ctx context.Context) error {
	if !q.started {
		return nil
	}
	err := q.Client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return q.Client.StopAndCancel(context.Background())
	}
	return err
}

// JobsUI returns River's web UI for the queue's jobs, mounted at prefix
// (such as "/admin/jobs") of the caller's mux with mux.Handle(prefix+"/",
// h): the handler strips prefix itself. It counts jobs by state in the
// background every few seconds until End.
func (q *Queue[TTx]) JobsUI(logger *slog.Logger, prefix string) (http.Handler, error) {
	return jobsui.New(&q.ui, q.Client, logger, prefix)
}

// Count counts the jobs of these kinds in these states, through River's
// job list (at most 10,000).
func (q *Queue[TTx]) Count(ctx context.Context, kinds []string, states []rivertype.JobState) (int, error) {
	res, err := q.Client.JobList(ctx, river.NewJobListParams().Kinds(kinds...).States(states...).First(10_000))
	if err != nil {
		return 0, fmt.Errorf("error listing the jobs: %w", err)
	}
	return len(res.Jobs), nil
}

// End stops the web UIs' background work; building another fails.
func (q *Queue[TTx]) End() { q.ui.End() }

// Migrate brings a database up to date: River's tables, then caisse's.
func Migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], caisse *goose.Provider) error {
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("error preparing job queue migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("error migrating the job queue tables: %w", err)
	}
	if _, err := caisse.Up(ctx); err != nil {
		return fmt.Errorf("error migrating caisse's tables: %w", err)
	}
	return nil
}
