package main

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"

	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/sqlite"
)

// testDB is a kind of database the black-box tests run on.
type testDB = dbtest.Kind

const (
	sqliteDB   = dbtest.SQLite
	postgresDB = dbtest.Postgres
)

// eachDB runs a test on SQLite and on PostgreSQL, in parallel.
func eachDB(t *testing.T, test func(t *testing.T, db testDB)) { dbtest.Each(t, test) }

// raw opens a second connection to the app's database, as another program
// would.
func (a *app) raw() *sql.DB {
	a.t.Helper()
	var db *sql.DB
	var err error
	if path, ok := a.p.Config.SQLitePath(); ok {
		db, err = sql.Open("sqlite", sqlite.DSN(path))
	} else {
		db, err = sql.Open("pgx", dbtest.SQLURL(a.p.Config.DatabaseURL))
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
