import TollgateOrders
import TollgatePostgres
import TollgateRedisStores

/// What the webhook pipeline needs from its stores, as small protocols: the real ones are Redis
/// (``WebhookDeduplicator``) and Postgres (`GroupCommitter`); the in-process route tests use fakes.

/// The fast dedup claims (Redis). Never the guard: Postgres's unique key decides.
protocol WebhookClaims: Sendable {
    /// The callback's rate limit and, if it admits, the claim of its events (one round trip).
    func claim(_ events: [PaymentEvent], limitedAs subject: RateLimitSubject) async -> WebhookAdmission
    /// After the commit: remember the events as done (written with other callbacks' marks).
    func markDone(_ events: [PaymentEvent]) async
    /// The commit failed: drop the claims so the provider's retry is not told "in flight".
    func release(_ events: [PaymentEvent]) async
}

/// The durable, exactly-once write of events (Postgres through the group committer).
protocol EventCommitter: Sendable {
    /// One result per event; throws if nothing was committed.
    func commit(_ events: [PaymentEvent]) async throws -> [Result<CommitOutcome, any Error>]
}

extension GroupCommitter: EventCommitter {}
extension WebhookDeduplicator: WebhookClaims {}
