-- +goose Up
CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    type        TEXT    NOT NULL,
    created     BIGINT NOT NULL,
    livemode    BOOLEAN NOT NULL,
    api_version TEXT    NOT NULL DEFAULT '',
    object_id   TEXT    NOT NULL DEFAULT '',
    received_at BIGINT NOT NULL,
    status      TEXT    NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    payload     BYTEA   NOT NULL
);
CREATE INDEX events_status ON events (status, seq);
CREATE INDEX events_type ON events (type, seq);

-- One row per Stripe object: its merged facts and the order it is linked to.
CREATE TABLE facts (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    order_id       TEXT NOT NULL DEFAULT '',
    payment_intent TEXT NOT NULL DEFAULT '',
    charge         TEXT NOT NULL DEFAULT '',
    data           TEXT NOT NULL
);
CREATE INDEX facts_order ON facts (order_id) WHERE order_id <> '';
CREATE INDEX facts_payment_intent ON facts (payment_intent) WHERE payment_intent <> '';
CREATE INDEX facts_charge ON facts (charge) WHERE charge <> '';

CREATE TABLE products (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL DEFAULT '',
    price      BIGINT NOT NULL DEFAULT 0,
    currency   TEXT    NOT NULL DEFAULT '',
    stock      BIGINT NOT NULL DEFAULT 0 CHECK (stock >= 0),
    reserved   BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE orders (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    status           TEXT    NOT NULL,
    items            TEXT    NOT NULL DEFAULT '[]',
    checkout_items   TEXT    NOT NULL DEFAULT '[]',
    checkout_open    BOOLEAN NOT NULL DEFAULT false,
    holds            TEXT    NOT NULL DEFAULT '[]',
    currency         TEXT    NOT NULL DEFAULT '',
    amount_total     BIGINT NOT NULL DEFAULT 0,
    amount_paid      BIGINT NOT NULL DEFAULT 0,
    amount_refunded  BIGINT NOT NULL DEFAULT 0,
    customer_email   TEXT    NOT NULL DEFAULT '',
    checkout_session TEXT    NOT NULL DEFAULT '',
    payment_intent   TEXT    NOT NULL DEFAULT '',
    payment_error    TEXT    NOT NULL DEFAULT '',
    dispute          TEXT    NOT NULL DEFAULT '',
    oversold         BOOLEAN NOT NULL DEFAULT false,
    unknown_products TEXT    NOT NULL DEFAULT '[]',
    items_error      TEXT    NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX orders_status ON orders (status, seq);

CREATE TABLE order_timeline (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    TEXT    NOT NULL,
    at          BIGINT NOT NULL,
    event_id    TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    from_status TEXT    NOT NULL,
    to_status   TEXT    NOT NULL
);
CREATE INDEX order_timeline_order ON order_timeline (order_id, seq);

-- Side effects, written with the change that causes them; key makes each unique.
CREATE TABLE outbox (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key          TEXT    NOT NULL UNIQUE,
    topic        TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    order_id     TEXT    NOT NULL DEFAULT '',
    payload      TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    delivered_at BIGINT,
    last_error   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (topic, seq) WHERE delivered_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE order_timeline;
DROP TABLE orders;
DROP TABLE products;
DROP TABLE facts;
DROP TABLE events;
