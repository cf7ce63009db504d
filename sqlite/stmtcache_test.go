package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"modernc.org/sqlite"
)

func openCaching(t *testing.T) *sql.DB {
	t.Helper()
	db := sql.OpenDB(connector{driver: &sqlite.Driver{}, dsn: DSN(filepath.Join(t.TempDir(), "c.db"))})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// cached returns how many statements the pool's connection keeps.
func cached(t *testing.T, db *sql.DB) int {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := -1
	conn.Raw(func(dc any) error {
		n = len(dc.(*cachingConn).stmts)
		return nil
	})
	return n
}

func TestStatementsArePreparedOnce(t *testing.T) {
	t.Parallel()
	db := openCaching(t)
	// A script of several statements runs whole and is not kept.
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a');`); err != nil {
		t.Fatal(err)
	}
	if n := cached(t, db); n != 0 {
		t.Fatalf("a script was kept: %d statements cached", n)
	}
	for i := range 100 {
		if _, err := db.Exec(`INSERT INTO t (v) VALUES (?)`, string(rune('b'+i%20))); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t WHERE v <> ?`, "").Scan(&n); err != nil || n != 101 {
		t.Fatalf("count: %d, %v; want 101", n, err)
	}
	if got := cached(t, db); got != 2 {
		t.Fatalf("%d statements cached, want 2 (the insert and the count)", got)
	}
}

// TestNestedQueryOfTheSameStatement reads a result set while the same query
// runs again on the same connection: the open one must not be reset.
func TestNestedQueryOfTheSameStatement(t *testing.T) {
	t.Parallel()
	db := openCaching(t)
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := db.Exec(`INSERT INTO t DEFAULT VALUES`); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = `SELECT id FROM t WHERE id >= ? ORDER BY id`
	outer, err := tx.Query(q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for outer.Next() {
		var id int
		outer.Scan(&id)
		ids = append(ids, id)
		inner, err := tx.Query(q, id)
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for inner.Next() {
			count++
		}
		inner.Close()
		if count != 6-id {
			t.Fatalf("inner query from %d saw %d rows, want %d", id, count, 6-id)
		}
	}
	if err := outer.Err(); err != nil || len(ids) != 5 {
		t.Fatalf("outer query saw %v (%v), want 5 rows", ids, err)
	}
	outer.Close()
	// Once closed, the statement is reused again.
	var n int
	if err := tx.QueryRow(q, 3).Scan(&n); err != nil || n != 3 {
		t.Fatalf("after the nested use: %d, %v", n, err)
	}
}

// TestCachedStatementSeesSchemaChanges runs a kept statement after the
// table it reads gained a column.
func TestCachedStatementSeesSchemaChanges(t *testing.T) {
	t.Parallel()
	db := openCaching(t)
	if _, err := db.Exec(`CREATE TABLE t (a INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Exec(`INSERT INTO t VALUES (1)`)
	cols := func() int {
		rows, err := db.Query(`SELECT * FROM t`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, _ := rows.Columns()
		return len(c)
	}
	if n := cols(); n != 1 {
		t.Fatalf("%d columns, want 1", n)
	}
	if _, err := db.Exec(`ALTER TABLE t ADD COLUMN b TEXT`); err != nil {
		t.Fatal(err)
	}
	if n := cols(); n != 2 {
		t.Fatalf("%d columns after ALTER TABLE, want 2", n)
	}
}
