package postgres

import (
	"testing"
	"time"

	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/jobsui/jobsuitest"
)

// TestJobsUI serves River's web UI for a started PostgreSQL database, in a
// schema of its own, and refuses to before it is open or once it is closed.
func TestJobsUI(t *testing.T) {
	t.Parallel()
	db := NewDB(dbtest.Postgres.NewURL(t))
	db.PollInterval = 50 * time.Millisecond
	jobsuitest.Lifecycle(t, db)
}
