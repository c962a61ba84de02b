-- Orders: one row per Game Hub order, moved through the order state machine.
-- The webhook and checkout issues add the tables that feed it.
CREATE TABLE orders (
    tenant          text        NOT NULL,
    order_id        text        NOT NULL,
    status          text        NOT NULL DEFAULT 'created',
    amount_minor    bigint      NOT NULL CHECK (amount_minor >= 0),
    currency        char(3)     NOT NULL,
    refunded_minor  bigint      NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    version         bigint      NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, order_id)
);
