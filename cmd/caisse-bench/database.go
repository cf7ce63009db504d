package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/caisse/caisse/database"
	"github.com/caisse/caisse/stripe"
)

// caissePackage is the caisse command, built when --caisse is not given.
const caissePackage = "github.com/caisse/caisse/cmd/caisse"

// buildCaisse builds the caisse binary into dir, with these build tags
// (comma-separated, "" for none), and returns its path. The go command's
// output goes to logs.
func buildCaisse(ctx context.Context, dir, tags string, logs io.Writer) (string, error) {
	exe := filepath.Join(dir, "caisse")
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags="+tags, "-o", exe, caissePackage)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("error building caisse with 'go build %s': %w; run caisse-bench from the caisse repository with Go installed, or pass --caisse PATH", caissePackage, err)
	}
	return exe, nil
}

// newDatabase makes a fresh, empty database for one run and returns its
// CAISSE_DATABASE_URL, and drop, which removes it.
func newDatabase(kind, pgURL string) (dbURL string, drop func(), err error) {
	switch kind {
	case "sqlite":
		dir, err := os.MkdirTemp("", "caisse-bench-")
		if err != nil {
			return "", nil, fmt.Errorf("error making a folder for the bench's SQLite database: %w", err)
		}
		return "sqlite:" + filepath.Join(dir, "caisse.db"), func() { os.RemoveAll(dir) }, nil
	case "postgres":
		u, err := url.Parse(pgURL)
		if err != nil {
			// The parser's message quotes the URL, password and all: leave it out.
			return "", nil, fmt.Errorf("--postgres-url is not a valid URL; write it as postgres://user:password@host:5432/database")
		}
		schema := "caisse_bench_" + randomHex(6)
		db, err := sql.Open("pgx", pgURL)
		if err != nil {
			return "", nil, fmt.Errorf("error connecting to PostgreSQL at %s: %w", u.Redacted(), err)
		}
		if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
			db.Close()
			return "", nil, fmt.Errorf("error creating a schema on PostgreSQL at %s (is it running? see --postgres-url): %w", u.Redacted(), err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), func() { db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); db.Close() }, nil
	}
	return "", nil, fmt.Errorf("--db must be sqlite or postgres, not %q", kind)
}

// seedDatabase brings a fresh database's schema up to date, then fills it
// with n processed events and what they made, as a shop that has run for a
// long while.
func seedDatabase(ctx context.Context, dbURL string, n int) error {
	db, err := database.New(dbURL)
	if err != nil {
		return err
	}
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(ctx); err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("error migrating the bench database: %w", err)
	}
	ex := stripe.Example{Type: "checkout.session.completed", EventID: "evt_seed", OrderID: "o_seed"}
	payload, err := stripe.Build(ex)
	if err != nil {
		return fmt.Errorf("error building a seed event: %w", err)
	}
	e, err := stripe.DecodeEvent(payload)
	if err != nil {
		return fmt.Errorf("error decoding the seed event: %w", err)
	}
	ef, err := stripe.Facts(e)
	if err != nil || len(ef.Facts) == 0 {
		return fmt.Errorf("error building a seed fact: %v (facts: %d)", err, len(ef.Facts))
	}
	fact, err := json.Marshal(ef.Facts[0])
	if err != nil {
		return fmt.Errorf("error encoding the seed fact: %w", err)
	}
	if err := seed(ctx, db.Store, n, payload, string(fact)); err != nil {
		return fmt.Errorf("error storing %d seed events: %w", n, err)
	}
	return nil
}
