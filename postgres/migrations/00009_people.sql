-- +goose Up
-- Who is told what: a work's artist (told of each sale), who bought (name
-- and phone beside the address), the lines as sold (in orders.items), the
-- declined attempts of an order, the sales announced (so their
-- cancellation is announced too), the way back to an open checkout, and a
-- note on a timeline entry that changed no status (a declined card).
ALTER TABLE products ADD COLUMN artist_name TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN artist_email TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN artist_share BIGINT NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN artist_locale TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN customer_name TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN customer_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN sales_told TEXT NOT NULL DEFAULT '[]';
ALTER TABLE orders ADD COLUMN checkout_url TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN stripe_customer TEXT NOT NULL DEFAULT '';
ALTER TABLE order_timeline ADD COLUMN note TEXT NOT NULL DEFAULT '';
CREATE INDEX orders_failed_attempts ON orders (seq) WHERE failed_attempts > 0;

-- What this database is, made once: its id makes each email's Message-ID
-- unique to it, whatever other caisse sends from the same domain.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO settings (name, value) VALUES ('database_id', substr(md5(random()::text || clock_timestamp()::text), 1, 16));

-- +goose Down
DROP TABLE settings;
DROP INDEX orders_failed_attempts;
ALTER TABLE order_timeline DROP COLUMN note;
ALTER TABLE orders DROP COLUMN stripe_customer;
ALTER TABLE orders DROP COLUMN checkout_url;
ALTER TABLE orders DROP COLUMN sales_told;
ALTER TABLE orders DROP COLUMN failed_attempts;
ALTER TABLE orders DROP COLUMN customer_phone;
ALTER TABLE orders DROP COLUMN customer_name;
ALTER TABLE products DROP COLUMN artist_locale;
ALTER TABLE products DROP COLUMN artist_share;
ALTER TABLE products DROP COLUMN artist_email;
ALTER TABLE products DROP COLUMN artist_name;
