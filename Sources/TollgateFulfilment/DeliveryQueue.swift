import Foundation
import TollgateOrders

/// A delivery leased for one attempt: nobody else attempts it until the lease runs out.
public struct LeasedDelivery: Sendable, Equatable {
    public var id: Int64
    public var tenant: String
    public var orderID: String
    public var type: FulfilmentEvent
    /// The Standard Webhooks `webhook-id`: the same on every attempt.
    public var webhookID: String
    /// The exact bytes every attempt sends.
    public var body: [UInt8]
    /// This attempt's number (1 for the first). Recording the attempt is fenced by it, so an
    /// attempt whose lease ran out (and was taken over) cannot overwrite the newer one.
    public var attempt: Int

    public init(id: Int64, tenant: String, orderID: String, type: FulfilmentEvent, webhookID: String, body: [UInt8], attempt: Int) {
        self.id = id
        self.tenant = tenant
        self.orderID = orderID
        self.type = type
        self.webhookID = webhookID
        self.body = body
        self.attempt = attempt
    }
}

/// One attempt as it ended, and what becomes of its delivery.
public struct AttemptRecord: Sendable, Equatable {
    public enum Next: Sendable, Equatable {
        case delivered
        /// The game declined a grant: the delivery ends and its order goes to `needs_review`.
        case declined(reason: String)
        /// Tried again after this long; the delivery stays pending.
        case retry(after: Duration)
        /// Every attempt the schedule allows has failed: a dead letter for an operator.
        case failed
        /// 410 Gone: the endpoint is disabled, and the delivery waits, its attempt not counted
        /// against it, until an operator enables the endpoint again.
        case endpointGone
    }

    public var startedAt: Date
    public var latency: Duration
    public var httpStatus: Int?
    public var error: String?
    /// What the game answered, cut to 4 KiB.
    public var response: String
    public var next: Next

    public init(startedAt: Date, latency: Duration, httpStatus: Int?, error: String?, response: String, next: Next) {
        self.startedAt = startedAt
        self.latency = latency
        self.httpStatus = httpStatus
        self.error = error
        self.response = response
        self.next = next
    }

    /// The one place an attempt's verdict becomes its delivery's fate: `attempt` of the schedule's
    /// attempts ended with `verdict`.
    public static func next(after verdict: DeliveryVerdict, attempt: Int, schedule: RetrySchedule,
                            random: inout some RandomNumberGenerator) -> Next {
        switch verdict {
        case .delivered: return .delivered
        case .declined(let reason): return .declined(reason: reason)
        case .gone: return .endpointGone
        case .retry(let retryAfter):
            guard let delay = schedule.delay(afterAttempt: attempt, retryAfter: retryAfter, random: &random) else { return .failed }
            return .retry(after: delay)
        }
    }
}

/// Where deliveries wait (Postgres's `deliveries` table in production).
public protocol DeliveryQueue: Sendable {
    /// Leases up to `limit` due deliveries for `worker`, at most `capacity[tenant]` of each
    /// tenant (only tenants in `capacity`, and only active endpoints) and never more than
    /// `limits[tenant]` leased at once across all workers, each the oldest still pending of its
    /// order, for `lease`.
    func lease(capacity: [String: Int], limits: [String: Int], limit: Int, worker: String, for lease: Duration) async throws -> [LeasedDelivery]

    /// Records `record` for `delivery` and applies its consequence (delivered, retried, failed,
    /// declined: the order to `needs_review`; gone: the endpoint disabled). Returns false when
    /// the lease was lost: another worker has taken the delivery over, and this attempt's
    /// outcome is dropped (the game deduplicates by `webhook-id`).
    func finish(_ delivery: LeasedDelivery, _ record: AttemptRecord, worker: String) async throws -> Bool
}
