package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/caisse/caisse"
)

// CreateAdminSession stores a signed-in browser's session, and deletes the
// sessions that had expired by then, so the table holds only live ones.
func (s *Store) CreateAdminSession(ctx context.Context, sess caisse.AdminSession) error {
	err := s.inTx(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM admin_sessions WHERE expires_at <= ?`, micros(sess.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO admin_sessions (id, token_digest, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			sess.ID, sess.TokenDigest, micros(sess.CreatedAt), micros(sess.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("error storing an admin session: %w", err)
	}
	return nil
}

// FindAdminSession returns the session with this id, or ENOTFOUND.
func (s *Store) FindAdminSession(ctx context.Context, id string) (*caisse.AdminSession, error) {
	sess := caisse.AdminSession{ID: id}
	var created, expires int64
	err := s.Driver.Reader().QueryRow(ctx, `SELECT token_digest, created_at, expires_at FROM admin_sessions WHERE id = ?`, id).
		Scan(&sess.TokenDigest, &created, &expires)
	if errors.Is(err, ErrNoRows) {
		return nil, caisse.Errorf(caisse.ENOTFOUND, "no such admin session")
	} else if err != nil {
		return nil, fmt.Errorf("error reading an admin session: %w", err)
	}
	sess.CreatedAt, sess.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &sess, nil
}

// DeleteAdminSession ends a session.
func (s *Store) DeleteAdminSession(ctx context.Context, id string) error {
	w, err := s.Driver.Writer(ctx)
	if err == nil {
		_, err = w.Exec(ctx, `DELETE FROM admin_sessions WHERE id = ?`, id)
	}
	if err != nil {
		return fmt.Errorf("error deleting an admin session: %w", err)
	}
	return nil
}
