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
    -- No foreign key: a link is only ever written for an order the same transaction holds locked,
    -- and orders are never deleted; the per-row check cost the write path a round of trigger work.
    PRIMARY KEY (tenant, provider, reference)
);

-- Orders paid before this migration: their payment references, from the events that paid them.
INSERT INTO order_links (tenant, provider, reference, order_id)
SELECT DISTINCT ON (e.tenant, e.provider, e.provider_payment_id) e.tenant, e.provider, e.provider_payment_id, e.order_id
FROM payment_events e JOIN orders o ON o.tenant = e.tenant AND o.order_id = e.order_id
WHERE e.kind = 'payment.succeeded' AND e.outcome = 'applied' AND e.provider_payment_id IS NOT NULL
ORDER BY e.tenant, e.provider, e.provider_payment_id, e.id
ON CONFLICT DO NOTHING;
-- A stored body as jsonb, or NULL where Postgres cannot read it (not UTF-8, or JSON that jsonb
-- refuses, like a \u0000 escape): one odd body must not stop the migration, and so the edge.
CREATE FUNCTION pg_temp.body_json(body bytea) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN convert_from(body, 'UTF8')::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- Every refund event's refund id, as the normalizers now read it from each provider's body (the
-- provider event id where a body names none).
CREATE TEMPORARY TABLE refund_ids ON COMMIT DROP AS
SELECT e.id, COALESCE(CASE e.provider
        WHEN 'stripe' THEN pg_temp.body_json(e.raw_body) #>> '{data,object,refunds,data,0,id}'
        WHEN 'adyen' THEN split_part(e.provider_event_id, ':', 1)
        WHEN 'paddle' THEN pg_temp.body_json(e.raw_body) #>> '{data,id}'
        WHEN 'checkout' THEN pg_temp.body_json(e.raw_body) #>> '{data,action_id}'
    END, e.provider_event_id) AS refund_id
FROM payment_events e
WHERE e.kind = 'refund.succeeded' AND e.outcome IN ('applied', 'deferred', 'pending');

-- The refunds they applied, by those ids, so a refund reported again later counts once and a new
-- one adds.
CREATE TEMPORARY TABLE legacy_refunds ON COMMIT DROP AS
SELECT e.tenant, e.order_id, r.refund_id, e.amount_minor
FROM payment_events e JOIN refund_ids r ON r.id = e.id
WHERE e.outcome = 'applied' AND e.order_id IS NOT NULL AND e.amount_minor > 0;

-- Their ledgers: the paying reference (its amount and currency were checked when it applied), the
-- refunds above, a dispute in progress under a placeholder id (its real id was never stored; the
-- first dispute reported later is taken to be it), and whether it already waited for a human.
UPDATE orders o SET ledger = jsonb_strip_nulls(jsonb_build_object(
    'paidBy', (SELECT l.reference FROM order_links l WHERE l.tenant = o.tenant AND l.order_id = o.order_id ORDER BY l.created_at LIMIT 1),
    'paidAmountMinor', o.amount_minor, 'paidCurrency', o.currency,
    'refunds', (SELECT jsonb_object_agg(k.refund_id, k.amount_minor) FROM (
                  SELECT refund_id, max(amount_minor) AS amount_minor FROM legacy_refunds r
                  WHERE r.tenant = o.tenant AND r.order_id = o.order_id GROUP BY refund_id
                  UNION ALL  -- whatever the refunded total holds beyond its events, as one refund
                  SELECT 'before-0004', o.refunded_minor - COALESCE((SELECT sum(m) FROM (SELECT max(amount_minor) AS m FROM legacy_refunds r
                      WHERE r.tenant = o.tenant AND r.order_id = o.order_id GROUP BY refund_id) x), 0)
                ) k WHERE k.amount_minor > 0),
    'disputes', CASE o.status
        WHEN 'disputed' THEN jsonb_build_object('before-0004', jsonb_build_object('reports', jsonb_build_array(jsonb_build_object('stage', 1, 'outcome', 'open'))))
        WHEN 'charged_back' THEN jsonb_build_object('before-0004', jsonb_build_object('amountMinor', o.amount_minor,
            'reports', jsonb_build_array(jsonb_build_object('stage', 2, 'outcome', 'funds_withdrawn'))))
        END,
    'legacyReview', CASE WHEN o.status = 'needs_review' THEN true END))
WHERE o.status NOT IN ('created', 'pending_payment', 'authorized', 'failed', 'canceled', 'expired') OR o.refunded_minor > 0;
UPDATE orders SET review_reasons = '{legacy_review}' WHERE status = 'needs_review';

-- Events still waiting: what they point at, as the planner now reads it.
UPDATE payment_events e SET
    link_refs = CASE WHEN e.provider_payment_id IS NULL THEN '{}' ELSE ARRAY[e.provider_payment_id] END,
    facts = jsonb_strip_nulls(jsonb_build_object(
        'paymentReference', e.provider_payment_id, 'refundIsCumulative', false,
        'refundID', (SELECT r.refund_id FROM refund_ids r WHERE r.id = e.id)))
WHERE e.outcome IN ('deferred', 'pending') AND e.facts IS NULL;
