-- +goose Up
-- The outbox becomes the dispatcher's queue: one row per message, channel
-- and recipient, with its status, its next attempt and a lease that keeps
-- two instances from sending it at once. "topic" was the channel and "kind"
-- what the message says; they are renamed to say so.
ALTER TABLE outbox RENAME COLUMN topic TO channel;
ALTER TABLE outbox RENAME COLUMN kind TO topic;
DROP INDEX outbox_pending;
ALTER TABLE outbox ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN recipient TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN product_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
UPDATE outbox SET id = 'dlv_' || seq, channel = CASE channel WHEN 'cms' THEN 'sanity' ELSE channel END;
-- Rows written before caisse delivered anything are history, not mail to
-- send now; a refund (stripe) is its own job and stays as it is.
UPDATE outbox SET status = 'delivered' WHERE delivered_at IS NOT NULL;
UPDATE outbox SET status = 'skipped', last_error = 'written before this caisse delivered notifications: not sent'
    WHERE delivered_at IS NULL AND channel <> 'stripe';
CREATE UNIQUE INDEX outbox_id ON outbox (id);
CREATE INDEX outbox_due ON outbox (status, channel, next_attempt_at);
CREATE INDEX outbox_order ON outbox (order_id, seq);
CREATE INDEX outbox_channel ON outbox (channel, seq);
-- The metrics count what waits and what failed, and how old the oldest is.
CREATE INDEX outbox_status ON outbox (status, created_at);

-- The customer's language, for their emails; a product's document in the
-- Sanity CMS.
ALTER TABLE orders ADD COLUMN locale TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN sanity_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE products DROP COLUMN sanity_id;
ALTER TABLE orders DROP COLUMN locale;
DROP INDEX outbox_status;
DROP INDEX outbox_channel;
DROP INDEX outbox_order;
DROP INDEX outbox_due;
DROP INDEX outbox_id;
ALTER TABLE outbox DROP COLUMN lease_until;
ALTER TABLE outbox DROP COLUMN next_attempt_at;
ALTER TABLE outbox DROP COLUMN status;
ALTER TABLE outbox DROP COLUMN product_id;
ALTER TABLE outbox DROP COLUMN recipient;
ALTER TABLE outbox DROP COLUMN id;
ALTER TABLE outbox RENAME COLUMN topic TO kind;
ALTER TABLE outbox RENAME COLUMN channel TO topic;
CREATE INDEX outbox_pending ON outbox (topic, seq) WHERE delivered_at IS NULL;
