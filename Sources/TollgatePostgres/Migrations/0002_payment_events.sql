-- Every verified provider event, stored once: (tenant, source, provider_event_id) is the durable
-- deduplication key. `outcome` says what the event did to its order:
--   applied   moved the order (a row in order_transitions says how)
--   ignored   did not apply and never will (reason recorded)
--   deferred  may apply later (a refund before its payment); re-evaluated after each transition
--   pending   its order does not exist yet; applied when the order is created
--   stored    an event we keep but do not act on (kind 'other', or no order reference)
CREATE TABLE payment_events (
    id                  bigserial   PRIMARY KEY,
    tenant              text        NOT NULL,
    source              text        NOT NULL,
    provider            text        NOT NULL,
    provider_event_id   text        NOT NULL,
    kind                text        NOT NULL,
    order_id            text,
    provider_payment_id text,
    amount_minor        bigint,
    currency            text,
    occurred_at         timestamptz,
    understood          boolean     NOT NULL,
    raw_body            bytea       NOT NULL,
    outcome             text        NOT NULL,
    outcome_reason      text,
    received_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payment_events_dedup UNIQUE (tenant, source, provider_event_id)
);
CREATE INDEX payment_events_waiting ON payment_events (tenant, order_id, id) WHERE outcome IN ('deferred', 'pending');

ALTER TABLE orders ADD COLUMN status_before_dispute text;

-- One row per event that was evaluated against an order: applied (from -> to) or ignored.
CREATE TABLE order_transitions (
    id          bigserial   PRIMARY KEY,
    tenant      text        NOT NULL,
    order_id    text        NOT NULL,
    event_id    bigint      NOT NULL REFERENCES payment_events (id),
    from_status text        NOT NULL,
    to_status   text        NOT NULL,
    outcome     text        NOT NULL,
    reason      text,
    at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant, order_id) REFERENCES orders (tenant, order_id)
);
CREATE INDEX order_transitions_order ON order_transitions (tenant, order_id, id);
