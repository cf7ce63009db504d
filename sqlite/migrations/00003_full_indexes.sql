-- +goose Up
-- The lookups by order, payment intent and charge bind their value as a
-- parameter, which a partial index "WHERE x <> ''" cannot be proven to cover:
-- SQLite scanned the whole table instead. Plain indexes serve them all.
DROP INDEX facts_order;
DROP INDEX facts_payment_intent;
DROP INDEX facts_charge;
CREATE INDEX facts_order ON facts (order_id);
CREATE INDEX facts_payment_intent ON facts (payment_intent);
CREATE INDEX facts_charge ON facts (charge);

-- +goose Down
DROP INDEX facts_order;
DROP INDEX facts_payment_intent;
DROP INDEX facts_charge;
CREATE INDEX facts_order ON facts (order_id) WHERE order_id <> '';
CREATE INDEX facts_payment_intent ON facts (payment_intent) WHERE payment_intent <> '';
CREATE INDEX facts_charge ON facts (charge) WHERE charge <> '';
