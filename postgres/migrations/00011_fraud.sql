-- +goose Up
-- Early fraud warnings: the warning a card issuer sent on an order's
-- payment (JSON, '' for none) and the refund caisse asked Stripe for on it
-- (CAISSE_FRAUD_POLICY=refund).
ALTER TABLE orders ADD COLUMN fraud_warning TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN fraud_refund TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE orders DROP COLUMN fraud_refund;
ALTER TABLE orders DROP COLUMN fraud_warning;
