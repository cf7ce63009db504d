package caisse

import (
	"context"
	"time"
)

// AdminSession is a browser signed in to the owner's pages. caisse keeps
// only digests of it: ID is the SHA-256 of the random secret the browser's
// cookie holds, and TokenDigest an HMAC of the admin token the session was
// opened with, keyed by that secret. The table alone so opens no session
// and tells nothing of the token, and a session opened with another token
// than today's is refused.
type AdminSession struct {
	ID          string
	TokenDigest string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// AdminSessionService keeps the owner's sessions in the database, so that
// signing out, or changing CAISSE_ADMIN_TOKEN, ends a session on every
// instance and across restarts.
type AdminSessionService interface {
	// CreateAdminSession stores a new session, and forgets the sessions
	// that expired before it was made.
	CreateAdminSession(ctx context.Context, s AdminSession) error
	// FindAdminSession returns the session with this id; ENOTFOUND when
	// there is none (never made, signed out, or forgotten once expired).
	FindAdminSession(ctx context.Context, id string) (*AdminSession, error)
	// DeleteAdminSession ends a session (sign-out). Ending one that does
	// not exist is no error.
	DeleteAdminSession(ctx context.Context, id string) error
}
