package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/caisse/caisse/internal/dbtest"
)

// caisse bench runs end to end on both databases and reports every figure.
func TestBench(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		var out, errOut bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		args := []string{"bench", "--db", string(kind), "--events", "300", "--concurrency", "8", "--stored", "3000", "--json"}
		if kind == dbtest.Postgres {
			args = append(args, "--postgres-url", dbtest.PostgresURL())
		}
		if code := m.Run(context.Background(), args); code != 0 {
			t.Fatalf("bench exited %d: %s", code, errOut.String())
		}
		var results []benchResult
		if err := json.Unmarshal(out.Bytes(), &results); err != nil || len(results) != 3 {
			t.Fatalf("bench printed %s (%v)", out.String(), err)
		}
		durable, only, grown := results[0], results[1], results[2]
		if durable.Mode != "durable" || only.Mode != "verify-only" || grown.Mode != "durable" || grown.Stored != 3000 {
			t.Fatalf("runs %+v, %+v, %+v", durable, only, grown)
		}
		for _, r := range results {
			if r.Errors != 0 || r.AckPerSecond <= 0 || r.P50ms <= 0 || r.P99ms < r.P50ms || r.PeakRSSMiB <= 0 || r.Deliveries < 300 {
				t.Errorf("%s: %+v", r.Mode, r)
			}
		}
		if durable.ProcessedPerS <= 0 || grown.ProcessedPerS <= 0 {
			t.Errorf("no processing rate: %+v, %+v", durable, grown)
		}
	})
}
