-- Provider lifecycles: refunds and disputes find their order through the payment they point at,
-- and an order's money facts are kept so that each refund counts once and deliveries in any
-- order converge (see docs/ORDER-LIFECYCLE.md).

-- The order's money facts (payment, refunds by id, cumulative refunded total, disputes by id,
-- review reasons), from which its status after payment is derived. The status a dispute
-- interrupted is now derived from these facts.
ALTER TABLE orders
    ADD COLUMN ledger         jsonb  NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN review_reasons text[] NOT NULL DEFAULT '{}';
ALTER TABLE orders DROP COLUMN status_before_dispute;
CREATE INDEX orders_needs_review ON orders (tenant, updated_at) WHERE status = 'needs_review';

-- Deduplication is per provider account, not per source: two sources receiving for one account
-- (an endpoint migration, a second Adyen webhook) store each event once.
ALTER TABLE payment_events ADD COLUMN account text;
UPDATE payment_events SET account = source;
ALTER TABLE payment_events ALTER COLUMN account SET NOT NULL;
ALTER TABLE payment_events DROP CONSTRAINT payment_events_dedup;
ALTER TABLE payment_events ADD CONSTRAINT payment_events_dedup UNIQUE (tenant, account, provider_event_id);

-- What an event points at (payment, refund and dispute references) and what it says about them.
ALTER TABLE payment_events
    ADD COLUMN link_refs text[] NOT NULL DEFAULT '{}',
    ADD COLUMN facts     jsonb;
-- Events waiting for the payment that links them to an order.
CREATE INDEX payment_events_unlinked ON payment_events USING gin (link_refs) WHERE outcome = 'pending' AND order_id IS NULL;

-- Provider references known to belong to an order. The first link of a reference wins.
CREATE TABLE order_links (
    tenant     text        NOT NULL,
    provider   text        NOT NULL,
    reference  text        NOT NULL,
    order_id   text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, provider, reference),
    FOREIGN KEY (tenant, order_id) REFERENCES orders (tenant, order_id)
);

-- Orders paid before this migration: their payment references, from the events that paid them.
INSERT INTO order_links (tenant, provider, reference, order_id)
SELECT DISTINCT ON (e.tenant, e.provider, e.provider_payment_id) e.tenant, e.provider, e.provider_payment_id, e.order_id
FROM payment_events e JOIN orders o ON o.tenant = e.tenant AND o.order_id = e.order_id
WHERE e.kind = 'payment.succeeded' AND e.outcome = 'applied' AND e.provider_payment_id IS NOT NULL
ORDER BY e.tenant, e.provider, e.provider_payment_id, e.id
ON CONFLICT DO NOTHING;
-- Their ledgers: the paying reference, the refunded total so far as one refund (so that refunds
-- reported later add to it), a dispute in progress under a placeholder id (its real id is unknown).
UPDATE orders o SET ledger = jsonb_strip_nulls(jsonb_build_object(
    'paidBy', (SELECT l.reference FROM order_links l WHERE l.tenant = o.tenant AND l.order_id = o.order_id ORDER BY l.created_at LIMIT 1),
    'refunds', CASE WHEN o.refunded_minor > 0 THEN jsonb_build_object('before-0004', o.refunded_minor) END,
    'disputes', CASE o.status
        WHEN 'disputed' THEN jsonb_build_object('before-0004', jsonb_build_object('stage', 1, 'outcome', 'open', 'contradicted', false))
        WHEN 'charged_back' THEN jsonb_build_object('before-0004', jsonb_build_object('stage', 3, 'outcome', 'lost', 'contradicted', false))
        END))
WHERE o.status NOT IN ('created', 'pending_payment', 'authorized', 'failed', 'canceled', 'expired') OR o.refunded_minor > 0;
