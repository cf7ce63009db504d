package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/caisse/caisse/internal/jobsui/jobsuitest"
)

// TestJobsUI serves River's web UI for a started SQLite database, and
// refuses to before it is open or once it is closed.
func TestJobsUI(t *testing.T) {
	t.Parallel()
	db := NewDB(filepath.Join(t.TempDir(), "caisse.db"))
	db.PollInterval = 50 * time.Millisecond
	jobsuitest.Lifecycle(t, db)
}
