-- +goose Up
-- The books: every movement of the shop's Stripe balance caisse learns of
-- (a charge's money in, a refund's out, a dispute's withdrawal and fee, a
-- payout), with Stripe's fee and net in the settlement currency, the charge
-- its money belongs to, that charge's order, and the payout that carried
-- it. known is false while only the id is known (its figures are asked of
-- Stripe by a job).
CREATE TABLE balance_transactions (
    id            TEXT PRIMARY KEY,
    type          TEXT    NOT NULL DEFAULT '',
    source        TEXT    NOT NULL DEFAULT '',
    charge        TEXT    NOT NULL DEFAULT '',
    order_id      TEXT    NOT NULL DEFAULT '',
    amount        BIGINT  NOT NULL DEFAULT 0,
    fee           BIGINT  NOT NULL DEFAULT 0,
    net           BIGINT  NOT NULL DEFAULT 0,
    currency      TEXT    NOT NULL DEFAULT '',
    exchange_rate DOUBLE PRECISION NOT NULL DEFAULT 0,
    created       BIGINT  NOT NULL DEFAULT 0,
    available_on  BIGINT  NOT NULL DEFAULT 0,
    payout        TEXT    NOT NULL DEFAULT '',
    known         BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX balance_transactions_order ON balance_transactions (order_id) WHERE order_id <> '';
CREATE INDEX balance_transactions_charge ON balance_transactions (charge) WHERE charge <> '';
CREATE INDEX balance_transactions_payout ON balance_transactions (payout) WHERE payout <> '';
CREATE INDEX balance_transactions_created ON balance_transactions (created);

-- The payouts of the balance to the shop's bank; listed once caisse has
-- listed every balance transaction an automatic payout carried.
CREATE TABLE payouts (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    amount          BIGINT  NOT NULL DEFAULT 0,
    currency        TEXT    NOT NULL DEFAULT '',
    arrival_date    BIGINT  NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL DEFAULT '',
    automatic       BOOLEAN NOT NULL DEFAULT false,
    failure_code    TEXT    NOT NULL DEFAULT '',
    failure_message TEXT    NOT NULL DEFAULT '',
    created         BIGINT  NOT NULL DEFAULT 0,
    livemode        BOOLEAN NOT NULL DEFAULT false,
    listed          BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX payouts_arrival ON payouts (arrival_date);

-- +goose Down
DROP TABLE payouts;
DROP TABLE balance_transactions;
