-- +goose Up
-- Checkout with reservations: when a caisse checkout's session expires (the
-- sweep releases holds whose expiry passed without an event), and the refund
-- asked for an oversold order.
ALTER TABLE orders ADD COLUMN checkout_expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN oversold_refund TEXT NOT NULL DEFAULT '';
CREATE INDEX orders_open_checkouts ON orders (checkout_open, checkout_expires_at);

-- Where catching up through Stripe's events API got to.
CREATE TABLE cursors (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- +goose Down
DROP TABLE cursors;
DROP INDEX orders_open_checkouts;
ALTER TABLE orders DROP COLUMN oversold_refund;
ALTER TABLE orders DROP COLUMN checkout_expires_at;
