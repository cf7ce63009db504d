-- +goose Up
-- The owner's pages show what each change of an order did to the stock (a
-- JSON list of moves, '' when it moved none), which event wrote each
-- outbox row, and the events about one order: the index finds an order's
-- events from its Stripe objects without reading every event.
ALTER TABLE order_timeline ADD COLUMN stock TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN event_id TEXT NOT NULL DEFAULT '';
CREATE INDEX events_object ON events (object_id);

-- +goose Down
DROP INDEX events_object;
ALTER TABLE outbox DROP COLUMN event_id;
ALTER TABLE order_timeline DROP COLUMN stock;
