package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

// Queue is the River client of a database, with the lifecycle both
// databases share.
type Queue[TTx any] struct {
	Client  *river.Client[TTx]
	started bool
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

// CheckReady reports an error when migrations are left to apply or the
// database does not take writes.
func (s *Store) CheckReady(ctx context.Context, p *goose.Provider) error {
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	if pending {
		return fmt.Errorf("migrations are pending%s: run caisse migrate", pendingNames(ctx, p))
	}
	return s.Probe(ctx)
}

// pendingNames names the migrations left to apply, as " (00007_inbox,
// 00008_admin)", or "" if it cannot tell.
func pendingNames(ctx context.Context, p *goose.Provider) string {
	status, err := p.Status(ctx)
	if err != nil {
		return ""
	}
	var names []string
	for _, m := range status {
		if m.State == goose.StatePending && m.Source != nil {
			names = append(names, strings.TrimSuffix(path.Base(m.Source.Path), ".sql"))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// Migrate brings a database up to date: River's tables, then caisse's.
func Migrate[TTx any](ctx context.Context, river riverdriver.Driver[TTx], caisse *goose.Provider) error {
	migrator, err := rivermigrate.New(river, nil)
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

// Goose returns the migrations of caisse's tables in fsys's folder
// "migrations", for db.
func Goose(dialect goose.Dialect, db *sql.DB, fsys fs.FS) (*goose.Provider, error) {
	sub, err := fs.Sub(fsys, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(dialect, db, sub)
	if err != nil {
		return nil, fmt.Errorf("error preparing migrations: %w", err)
	}
	return p, nil
}
