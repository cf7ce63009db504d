-- +goose Up
-- The owner's signed-in browsers, kept in the database so that signing out
-- or changing CAISSE_ADMIN_TOKEN ends a session on every instance and
-- across restarts. Only digests are kept: id is the SHA-256 of the secret
-- the browser's cookie holds, token_digest an HMAC of the admin token the
-- session was opened with, keyed by that secret. Times are microseconds
-- since 1970 (UTC), like the other tables'.
CREATE TABLE admin_sessions (
    id           TEXT PRIMARY KEY,
    token_digest TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);

-- +goose Down
DROP TABLE admin_sessions;
