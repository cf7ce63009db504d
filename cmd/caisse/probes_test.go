package main

import (
	"io"
	"net/http"
	"sync"
	"testing"
)

// countProbeWrites makes the database count the readiness checks' writes
// (updates of the health row), from outside caisse; the returned function
// reads the count.
func countProbeWrites(t *testing.T, a *app) func() int {
	t.Helper()
	db := a.raw()
	stmts := []string{
		`CREATE TABLE probe_writes (n INTEGER NOT NULL)`,
		`INSERT INTO probe_writes VALUES (0)`,
		`CREATE TRIGGER count_probe_writes AFTER UPDATE ON health BEGIN UPDATE probe_writes SET n = n + 1; END`,
	}
	if a.db == postgresDB {
		stmts[2] = `CREATE FUNCTION count_probe_writes() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN UPDATE probe_writes SET n = n + 1; RETURN NEW; END $$`
		stmts = append(stmts, `CREATE TRIGGER count_probe_writes AFTER UPDATE ON health FOR EACH ROW EXECUTE FUNCTION count_probe_writes()`)
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return func() int {
		var n int
		if err := db.QueryRow(`SELECT n FROM probe_writes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// A flood of readiness probes costs the database a handful of writes: the
// probes that arrive together, or within about a second, share one check.
func TestReadinessProbesShareOneCheck(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		writes := countProbeWrites(t, a)
		const probes = 200
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for range probes {
			wg.Go(func() {
				res, err := http.Get(a.url + "/readyz")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				statuses[res.StatusCode]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if statuses[http.StatusOK] != probes {
			t.Fatalf("answers %v, want %d ready", statuses, probes)
		}
		if n := writes(); n < 1 || n > 5 {
			t.Fatalf("%d probes wrote to the database %d times, want a handful", probes, n)
		}
	})
}
