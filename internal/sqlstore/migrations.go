package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/caisse/caisse"
)

// CheckReady reports an error when migrations are left to apply
// (caisse.ErrMigrationsPending) or the database does not take writes
// (caisse.ErrNoWrites).
func (s *Store) CheckReady(ctx context.Context, p *goose.Provider) error {
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", caisse.ErrUnreachable, err)
	}
	if pending {
		return caisse.WithFix(fmt.Errorf("%w%s", caisse.ErrMigrationsPending, pendingNames(ctx, p)), "run caisse migrate")
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
