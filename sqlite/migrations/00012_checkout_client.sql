-- +goose Up
-- Who holds an open checkout's units, so that what one client holds is
-- bounded across its checkouts and across instances: a keyed digest of its
-- address, or of the buyer id a shop's server names, never the address or
-- id itself. Cleared once the checkout closes.
ALTER TABLE orders ADD COLUMN checkout_client TEXT NOT NULL DEFAULT '';
CREATE INDEX orders_checkout_client ON orders (checkout_client) WHERE checkout_client <> '';

-- +goose Down
DROP INDEX orders_checkout_client;
ALTER TABLE orders DROP COLUMN checkout_client;
