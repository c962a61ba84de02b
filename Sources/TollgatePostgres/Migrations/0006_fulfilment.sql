-- Fulfilment: what the game backends are told. A delivery row is written in the same transaction
-- as the transition that causes it (a transactional outbox): a committed transition never misses
-- its message, a rolled-back one never sends. Workers in any instance lease due rows.
--   pending   to deliver (leased while an attempt runs: lease_until, leased_by)
--   delivered the game answered 2xx
--   declined  the game refused a grant; the order went to needs_review (fulfilment_declined)
--   failed    retries exhausted: a dead letter an operator retries or replays
CREATE TABLE deliveries (
    id              bigserial   PRIMARY KEY,
    tenant          text        NOT NULL,
    order_id        text        NOT NULL,
    type            text        NOT NULL,
    -- Standard Webhooks `webhook-id`: the same on every attempt, so the game applies it once;
    -- random, so a database restored from a backup never reuses one the game has seen.
    webhook_id      text        NOT NULL UNIQUE DEFAULT 'msg_' || replace(gen_random_uuid()::text, '-', ''),
    event_id        bigint      REFERENCES payment_events (id),
    -- The exact bytes of every attempt, built when the transition committed.
    body            text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'declined', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    leased_by       text,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    FOREIGN KEY (tenant, order_id) REFERENCES orders (tenant, order_id)
);
-- A worker's lease scans each tenant's due rows oldest first; live leases are counted per tenant.
CREATE INDEX deliveries_due ON deliveries (tenant, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (tenant) WHERE lease_until IS NOT NULL;
CREATE INDEX deliveries_order ON deliveries (tenant, order_id, id);
CREATE INDEX deliveries_tenant_status ON deliveries (tenant, status, id);

-- Every attempt, for operators: what was answered and how fast (the answer cut to 4 KiB).
CREATE TABLE delivery_attempts (
    id          bigserial   PRIMARY KEY,
    delivery_id bigint      NOT NULL REFERENCES deliveries (id),
    attempt     integer     NOT NULL,
    worker      text        NOT NULL,
    started_at  timestamptz NOT NULL,
    latency_ms  integer     NOT NULL,
    http_status integer,
    error       text,
    response    text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

-- A game backend's state, when not plainly active: paused by an operator, or disabled (it
-- answered 410 Gone) until an operator resumes it. Its URL, secrets and events are the tenant file's.
CREATE TABLE game_endpoints (
    tenant     text        PRIMARY KEY,
    state      text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'disabled')),
    reason     text,
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- A decline moves an order without a provider event: its transition names the delivery.
ALTER TABLE order_transitions ALTER COLUMN event_id DROP NOT NULL,
    ADD COLUMN delivery_id bigint REFERENCES deliveries (id);
