-- Catalog pricing: each checkout order's lines as the edge priced them from the tenant's catalog
-- (never from the page), with the hash of the catalog file they were sold under; and the request
-- fingerprint, so the same Idempotency-Key with another body is refused even after Redis forgot.
CREATE TABLE order_lines (
    tenant            text    NOT NULL,
    order_id          text    NOT NULL,
    line              integer NOT NULL CHECK (line >= 0),
    sku               text    NOT NULL,
    title             text    NOT NULL,
    quantity          bigint  NOT NULL CHECK (quantity > 0),
    unit_amount_minor bigint  NOT NULL CHECK (unit_amount_minor > 0),
    amount_minor      bigint  NOT NULL CHECK (amount_minor = quantity * unit_amount_minor),
    catalog_hash      text    NOT NULL,
    PRIMARY KEY (tenant, order_id, line),
    UNIQUE (tenant, order_id, sku),
    FOREIGN KEY (tenant, order_id) REFERENCES orders (tenant, order_id)
);

ALTER TABLE orders ADD COLUMN request_fingerprint text;
