package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"

	"github.com/caisse/caisse/sqlite"
)

// testDB is a kind of database the black-box tests run on.
type testDB string

const (
	sqliteDB   testDB = "sqlite"
	postgresDB testDB = "postgres"
)

// postgresURL is the server the PostgreSQL tests use; each test gets a schema
// of its own there, dropped when it ends.
func postgresURL() string {
	if u := os.Getenv("CAISSE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// eachDB runs a test on SQLite and on PostgreSQL, in parallel.
func eachDB(t *testing.T, test func(t *testing.T, db testDB)) {
	t.Parallel()
	for _, db := range []testDB{sqliteDB, postgresDB} {
		t.Run(string(db), func(t *testing.T) {
			t.Parallel()
			test(t, db)
		})
	}
}

// newURL returns the CAISSE_DATABASE_URL of a new, empty database.
func (db testDB) newURL(t *testing.T) string {
	t.Helper()
	if db == sqliteDB {
		return "sqlite:" + filepath.Join(t.TempDir(), "caisse.db")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "caisse_test_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("PostgreSQL at %s is needed for these tests (set CAISSE_TEST_POSTGRES_URL): %v", postgresURL(), err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", postgresURL())
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// raw opens a second connection to the app's database, as another program
// would.
func (a *app) raw() *sql.DB {
	a.t.Helper()
	var db *sql.DB
	var err error
	if path, ok := a.p.Config.SQLitePath(); ok {
		db, err = sql.Open("sqlite", sqlite.DSN(path))
	} else {
		db, err = sql.Open("pgx", a.p.Config.DatabaseURL)
	}
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { db.Close() })
	return db
}

// breakTable makes every insert into a table fail, as a full disk or a
// broken database would, from outside caisse; mend undoes it.
func breakTable(t *testing.T, a *app, table string) (mend func()) {
	t.Helper()
	db := a.raw()
	ctx := context.Background()
	create := []string{`CREATE TRIGGER ` + table + `_broken BEFORE INSERT ON ` + table + `
		BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`}
	drop := []string{`DROP TRIGGER ` + table + `_broken`}
	if a.db == postgresDB {
		create = []string{
			`CREATE FUNCTION ` + table + `_broken() RETURNS trigger LANGUAGE plpgsql AS
				$$ BEGIN RAISE EXCEPTION 'database or disk is full'; END $$`,
			`CREATE TRIGGER ` + table + `_broken BEFORE INSERT ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION ` + table + `_broken()`,
		}
		drop = []string{`DROP TRIGGER ` + table + `_broken ON ` + table, `DROP FUNCTION ` + table + `_broken()`}
	}
	for _, q := range create {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for _, q := range drop {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
}
