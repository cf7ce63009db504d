-- +goose Up
-- Where an order goes (JSON {name, phone, address}, '' when the checkout
-- did not ask) and the parts of its total that were shipping, tax and
-- discount, as the checkout session says.
ALTER TABLE orders ADD COLUMN shipping TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN amount_shipping BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN amount_tax BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN amount_discount BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE orders DROP COLUMN amount_discount;
ALTER TABLE orders DROP COLUMN amount_tax;
ALTER TABLE orders DROP COLUMN amount_shipping;
ALTER TABLE orders DROP COLUMN shipping;
