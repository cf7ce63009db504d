-- +goose Up
-- The refunds the owner asked caisse for on an order (JSON list of
-- {id, status, amount, lines, restock, reason, confirms_at, refund,
-- error, requested_at}): requested at once, refunded when Stripe's events
-- confirm them, their lines' units back in stock when they restock.
ALTER TABLE orders ADD COLUMN refunds_requested TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE orders DROP COLUMN refunds_requested;
