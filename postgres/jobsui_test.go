package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/jobsui/jobsuitest"
)

// TestJobsUI serves River's web UI for a started PostgreSQL database, in a
// schema of its own, and refuses to before it is open or once it is closed.
func TestJobsUI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := NewDB(dbtest.Postgres.NewURL(t))
	db.PollInterval = 50 * time.Millisecond
	if _, err := db.JobsUI(nil, jobsuitest.Prefix); err == nil || !strings.Contains(err.Error(), "open the database first") {
		t.Fatalf("JobsUI before Open: %v, want an error saying to open the database first", err)
	}
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			db.Close()
		}
	})
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ui, err := db.JobsUI(nil, jobsuitest.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	jobsuitest.Check(t, ui)

	if err := db.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.JobsUI(nil, jobsuitest.Prefix); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("JobsUI after Close: %v, want an error saying the database is closed", err)
	}
}
