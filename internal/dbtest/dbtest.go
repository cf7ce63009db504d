// Package dbtest gives tests a new, empty database of each kind caisse runs
// on: a SQLite file in the test's folder, or a PostgreSQL schema of its own
// on the server named by CAISSE_TEST_POSTGRES_URL, dropped when the test ends.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Kind is a kind of database.
type Kind string

// The kinds of database caisse runs on.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

// Kinds lists them all.
var Kinds = []Kind{SQLite, Postgres}

// PostgresURL is the server the PostgreSQL tests use.
func PostgresURL() string {
	if u := os.Getenv("CAISSE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Each runs a test on every kind of database, in parallel.
func Each(t *testing.T, test func(t *testing.T, kind Kind)) {
	t.Parallel()
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			if kind == Postgres {
				RequirePostgres(t)
			}
			test(t, kind)
		})
	}
}

var reachable struct {
	once sync.Once
	err  error
}

// RequirePostgres skips the test when no PostgreSQL server answers at the
// default address and CAISSE_TEST_POSTGRES_URL is unset, so the tests run
// on a machine with Go alone. When the variable is set (as CI sets it), a
// server that does not answer fails the test: it is never skipped silently.
func RequirePostgres(t testing.TB) {
	t.Helper()
	reachable.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", PostgresURL())
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
		}
		reachable.err = err
	})
	if reachable.err == nil {
		return
	}
	if os.Getenv("CAISSE_TEST_POSTGRES_URL") != "" {
		t.Fatalf("PostgreSQL at CAISSE_TEST_POSTGRES_URL cannot be reached: %v", reachable.err)
	}
	t.Skipf("no PostgreSQL server at %s, so this runs on SQLite only: start one there, or set CAISSE_TEST_POSTGRES_URL, to run it on PostgreSQL too", PostgresURL())
}

// NewURL returns the CAISSE_DATABASE_URL of a new, empty database.
func (k Kind) NewURL(t testing.TB) string {
	t.Helper()
	if k == SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "caisse.db")
	}
	RequirePostgres(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "caisse_test_" + hex.EncodeToString(b)
	if err := exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("PostgreSQL at %s is needed for these tests (set CAISSE_TEST_POSTGRES_URL): %v", PostgresURL(), err)
	}
	t.Cleanup(func() {
		if err := exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	// Many tests run at once against one server: keep each pool small so
	// they stay well under its max_connections.
	q.Set("pool_max_conns", "4")
	u.RawQuery = q.Encode()
	return u.String()
}

// SQLURL returns a database URL for database/sql ("pgx" driver), which
// takes no pool settings.
func SQLURL(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	q := u.Query()
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String()
}

func exec(query string) error {
	db, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(query)
	return err
}
