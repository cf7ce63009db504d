-- +goose Up
-- The owner's pages show what each change of an order did to the stock (a
-- JSON list of moves, '' when it moved none), which event wrote each
-- outbox row, and the events about one order: the index finds an order's
-- events from its Stripe objects without reading every event.
ALTER TABLE order_timeline ADD COLUMN stock TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN event_id TEXT NOT NULL DEFAULT '';
CREATE INDEX events_object ON events (object_id);
-- SQLite uses a partial index only for a query that repeats its condition
-- as written: the queries, shared with PostgreSQL, say "= TRUE", which
-- "= 1" does not match, so the flagged orders were found by reading them
-- all.
DROP INDEX orders_oversold;
DROP INDEX orders_payment_mismatch;
CREATE INDEX orders_oversold ON orders (seq) WHERE oversold = TRUE;
CREATE INDEX orders_payment_mismatch ON orders (seq) WHERE payment_mismatch = TRUE;

-- +goose Down
DROP INDEX orders_payment_mismatch;
DROP INDEX orders_oversold;
CREATE INDEX orders_payment_mismatch ON orders (seq) WHERE payment_mismatch = 1;
CREATE INDEX orders_oversold ON orders (seq) WHERE oversold = 1;
DROP INDEX events_object;
ALTER TABLE outbox DROP COLUMN event_id;
ALTER TABLE order_timeline DROP COLUMN stock;
