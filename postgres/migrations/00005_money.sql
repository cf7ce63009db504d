-- +goose Up
-- Only money that covers an order pays it: what the order is due, in which
-- mode, whether a payment was taken that does not pay it (and its refunds),
-- and the terms caisse's own checkout fixed.
ALTER TABLE orders ADD COLUMN amount_due BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN livemode BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE orders ADD COLUMN payment_mismatch BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE orders ADD COLUMN mismatched_payments TEXT NOT NULL DEFAULT '[]';
ALTER TABLE orders ADD COLUMN mismatch_refunds TEXT NOT NULL DEFAULT '[]';
ALTER TABLE orders ADD COLUMN checkout_amount_due BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN checkout_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN checkout_livemode BOOLEAN NOT NULL DEFAULT false;
-- The owner lists flagged orders; few are, so these stay small.
CREATE INDEX orders_payment_mismatch ON orders (seq) WHERE payment_mismatch;
CREATE INDEX orders_oversold ON orders (seq) WHERE oversold;

-- +goose Down
DROP INDEX orders_oversold;
DROP INDEX orders_payment_mismatch;
ALTER TABLE orders DROP COLUMN checkout_livemode;
ALTER TABLE orders DROP COLUMN checkout_currency;
ALTER TABLE orders DROP COLUMN checkout_amount_due;
ALTER TABLE orders DROP COLUMN mismatch_refunds;
ALTER TABLE orders DROP COLUMN mismatched_payments;
ALTER TABLE orders DROP COLUMN payment_mismatch;
ALTER TABLE orders DROP COLUMN livemode;
ALTER TABLE orders DROP COLUMN amount_due;
