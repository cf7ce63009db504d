-- +goose Up
-- The books of one Stripe mode never count the other's: each balance
-- transaction says whether it is live-mode money (from its event, or from
-- the mode of the key that read it). Those stored before take their order's
-- mode, else their payout's.
ALTER TABLE balance_transactions ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
UPDATE balance_transactions SET livemode = COALESCE(
    (SELECT o.livemode FROM orders o WHERE o.id = balance_transactions.order_id AND balance_transactions.order_id <> ''),
    (SELECT p.livemode FROM payouts p WHERE p.id = balance_transactions.payout AND balance_transactions.payout <> ''),
    0);
CREATE INDEX balance_transactions_mode_created ON balance_transactions (livemode, created);

-- +goose Down
DROP INDEX balance_transactions_mode_created;
ALTER TABLE balance_transactions DROP COLUMN livemode;
