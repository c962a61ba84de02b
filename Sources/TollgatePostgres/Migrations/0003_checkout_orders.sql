-- Checkout: who ordered what, under which Idempotency-Key, and where the payment was opened.
-- The partial unique index is the durable idempotency guard: a retry after Redis lost its record
-- still finds the original order and never creates a second one.
ALTER TABLE orders
    ADD COLUMN player_id           text,
    ADD COLUMN idempotency_key     text,
    ADD COLUMN items               jsonb,
    ADD COLUMN country             text,
    ADD COLUMN return_url          text,
    ADD COLUMN provider            text,
    ADD COLUMN provider_payment_id text,
    ADD COLUMN last_error          text;

CREATE UNIQUE INDEX orders_idempotency ON orders (tenant, player_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
