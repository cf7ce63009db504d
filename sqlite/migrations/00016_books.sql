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
    amount        INTEGER NOT NULL DEFAULT 0,
    fee           INTEGER NOT NULL DEFAULT 0,
    net           INTEGER NOT NULL DEFAULT 0,
    currency      TEXT    NOT NULL DEFAULT '',
    exchange_rate REAL    NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL DEFAULT 0,
    available_on  INTEGER NOT NULL DEFAULT 0,
    payout        TEXT    NOT NULL DEFAULT '',
    known         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX balance_transactions_order ON balance_transactions (order_id) WHERE order_id <> '';
CREATE INDEX balance_transactions_charge ON balance_transactions (charge) WHERE charge <> '';
CREATE INDEX balance_transactions_payout ON balance_transactions (payout) WHERE payout <> '';
CREATE INDEX balance_transactions_created ON balance_transactions (created);

-- The payouts of the balance to the shop's bank; listed once caisse has
-- listed every balance transaction an automatic payout carried.
CREATE TABLE payouts (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    amount          INTEGER NOT NULL DEFAULT 0,
    currency        TEXT    NOT NULL DEFAULT '',
    arrival_date    INTEGER NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL DEFAULT '',
    automatic       INTEGER NOT NULL DEFAULT 0,
    failure_code    TEXT    NOT NULL DEFAULT '',
    failure_message TEXT    NOT NULL DEFAULT '',
    created         INTEGER NOT NULL DEFAULT 0,
    livemode        INTEGER NOT NULL DEFAULT 0,
    listed          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX payouts_arrival ON payouts (arrival_date);

-- +goose Down
DROP TABLE payouts;
DROP TABLE balance_transactions;
