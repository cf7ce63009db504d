-- +goose Up
-- The events table is the applier's queue: an event that failed waits
-- here until its next attempt, instead of in a job of its own.
ALTER TABLE events ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE events DROP COLUMN next_attempt_at;
