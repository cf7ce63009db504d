-- +goose Up
-- How an order left (JSON {carrier, tracking_number, tracking_url,
-- shipped_at}, '' until the owner ships it), and the orders still to ship,
-- oldest first.
ALTER TABLE orders ADD COLUMN shipment TEXT NOT NULL DEFAULT '';
CREATE INDEX orders_to_ship ON orders (seq) WHERE shipment = '' AND status IN ('paid', 'partially_refunded');

-- +goose Down
DROP INDEX orders_to_ship;
ALTER TABLE orders DROP COLUMN shipment;
