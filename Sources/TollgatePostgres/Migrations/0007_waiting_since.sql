-- The operational gauges read, every 30 s in every instance, how many events wait per tenant and
-- since when. payment_events_waiting lacks received_at, so that read fetched every waiting row
-- from the heap: with 33,000 waiting events it read 16,600 blocks (130 MiB) each time, seconds of
-- Postgres under load, and pushed the commits' pages out of shared buffers. This index answers it
-- from the index alone (an index-only scan; rows not yet all-visible are checked in the heap).
-- Built in the migration's transaction, so writes to payment_events wait for the build.
CREATE INDEX payment_events_waiting_since ON payment_events (tenant, outcome, received_at) WHERE outcome IN ('deferred', 'pending');
