package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/caisse/caisse/internal/jobsui/jobsuitest"
	"github.com/caisse/caisse/payments"
)

// TestJobsUI serves River's web UI for a started SQLite database, and
// refuses to before it is open or once it is closed.
func TestJobsUI(t *testing.T) {
	t.Parallel()
	db := NewDB(filepath.Join(t.TempDir(), "caisse.db"))
	db.PollInterval = 50 * time.Millisecond
	db.River = payments.New(db.Store).RiverConfig
	jobsuitest.Lifecycle(t, db)
}
