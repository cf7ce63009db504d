package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/dbtest"
)

// Admin sessions are shared by every store on one database, end when
// deleted, and are forgotten once expired when the next one is made.
func TestAdminSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		ctx := context.Background()
		url := kind.NewURL(t)
		a, b := open(t, kind, url), open(t, kind, url)
		now := time.Now().UTC().Truncate(time.Microsecond)
		old := caisse.AdminSession{ID: "old", TokenDigest: "d0", CreatedAt: now.Add(-13 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
		live := caisse.AdminSession{ID: "live", TokenDigest: "d1", CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour)}
		for _, s := range []caisse.AdminSession{old, live} {
			if err := a.Store.CreateAdminSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.Store.FindAdminSession(ctx, "live")
		if err != nil || *got != live {
			t.Fatalf("another store finds %+v (%v), want %+v", got, err, live)
		}
		if _, err := b.Store.FindAdminSession(ctx, "old"); caisse.ErrorCode(err) != caisse.ENOTFOUND {
			t.Fatalf("a session expired before the next sign-in is still kept (%v)", err)
		}
		if err := b.Store.DeleteAdminSession(ctx, "live"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Store.FindAdminSession(ctx, "live"); caisse.ErrorCode(err) != caisse.ENOTFOUND {
			t.Fatalf("a deleted session is still found (%v)", err)
		}
		if err := a.Store.DeleteAdminSession(ctx, "live"); err != nil {
			t.Fatalf("deleting a session twice: %v", err)
		}
	})
}
