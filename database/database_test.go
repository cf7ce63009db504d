package database_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/database"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/jobsui/jobsuitest"
	"github.com/caisse/caisse/payments"
)

// TestJobsUI serves River's web UI for a started database of each kind,
// and refuses to before it is open or once it is closed.
func TestJobsUI(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		db, err := database.New(kind.NewURL(t))
		if err != nil {
			t.Fatal(err)
		}
		db.PollInterval = 50 * time.Millisecond
		db.River = payments.New(db.Store).RiverConfig
		jobsuitest.Lifecycle(t, db)
	})
}

// TestParseURL reads every form of CAISSE_DATABASE_URL, and refuses others
// with what to write.
func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		raw      string
		kind     database.Kind
		path     string
		redacted string
	}{
		{"sqlite:caisse.db", database.SQLite, "caisse.db", "sqlite:caisse.db"},
		{"sqlite:///var/lib/caisse.db", database.SQLite, "/var/lib/caisse.db", "sqlite:///var/lib/caisse.db"},
		{"sqlite:", database.SQLite, "", "sqlite:"},
		{"postgres://shop:hunter2@db:5432/caisse", database.PostgreSQL, "", "postgres://shop:…@db:5432/caisse"},
		{"postgresql://db/caisse?password=hunter2", database.PostgreSQL, "", "postgresql://db/caisse?password=…"},
	} {
		u, err := database.ParseURL(c.raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.raw, err)
			continue
		}
		if u.Kind != c.kind || u.Path != c.path || u.Redacted() != c.redacted || u.String() != c.raw {
			t.Errorf("ParseURL(%q) = %s %q %q, want %s %q %q", c.raw, u.Kind, u.Path, u.Redacted(), c.kind, c.path, c.redacted)
		}
	}
	for _, raw := range []string{"mysql://shop:hunter2@db/caisse", "caisse.db", ""} {
		_, err := database.ParseURL(raw)
		var f caisse.Fixer
		if err == nil || !errors.As(err, &f) || !strings.Contains(f.Fix(), "sqlite:PATH") {
			t.Errorf("ParseURL(%q) = %v, want an error saying how to write one", raw, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q)'s error shows the password: %v", raw, err)
		}
		if got := database.Redact(raw); strings.Contains(got, "hunter2") {
			t.Errorf("Redact(%q) = %q, shows the password", raw, got)
		}
	}
}

// TestReadyTellsWhy: a database's readiness error says why by its type —
// pending migrations, a replaced SQLite file — never only in words.
func TestReadyTellsWhy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		ctx := context.Background()
		url := kind.NewURL(t)
		db, err := database.New(url)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Open(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		err = db.Ready(ctx)
		if !errors.Is(err, caisse.ErrMigrationsPending) {
			t.Fatalf("Ready before migrating: %v, want ErrMigrationsPending", err)
		}
		var f caisse.Fixer
		if !errors.As(err, &f) || f.Fix() != "run caisse migrate" {
			t.Errorf("Ready before migrating: %v, want the fix \"run caisse migrate\"", err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Ready(ctx); err != nil {
			t.Fatalf("Ready once migrated: %v", err)
		}
		if kind != dbtest.SQLite {
			return
		}
		u, _ := database.ParseURL(url)
		if err := renameAway(u.Path); err != nil {
			t.Fatal(err)
		}
		if err := db.Ready(ctx); !errors.Is(err, caisse.ErrDatabaseReplaced) {
			t.Fatalf("Ready once the file is gone: %v, want ErrDatabaseReplaced", err)
		}
	})
}

// renameAway moves a SQLite file (and its WAL) aside, as `mv` would.
func renameAway(path string) error {
	matches, err := filepath.Glob(path + "*")
	if err != nil {
		return err
	}
	for _, m := range matches {
		if err := os.Rename(m, m+".moved"); err != nil {
			return err
		}
	}
	return nil
}
