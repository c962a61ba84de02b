import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import TollgateCore
import TollgateOrders

/// Delivers the outbox to the game backends: leases due deliveries, sends each once per lease,
/// records how it ended. Safe with any number of instances (leases are taken with
/// `FOR UPDATE SKIP LOCKED` and fenced by attempt number).
///
/// Isolation between tenants: each backend has its own in-flight cap (`max_in_flight`) and its
/// own circuit breaker (opened by attempts that fail to connect or time out), and a tenant at its
/// cap or with its breaker open is left out of the lease; so a backend that hangs holds at most
/// its own slots, and the others' deliveries go on.
public final class DeliveryWorker: Service, Sendable {
    public struct Options: Sendable {
        /// Names this worker in leases and attempt rows.
        public var workerID = "tollgate-\(ProcessInfo.processInfo.processIdentifier)-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        /// Attempts running at once across all tenants.
        public var maximumInFlight = 64
        /// How long a lease lasts: longer than any attempt (timeouts are at most 30 s), so a
        /// crashed worker's deliveries are taken over after it.
        public var lease: Duration = .seconds(60)
        /// How often an idle worker looks for due deliveries.
        public var pollInterval: Duration = .milliseconds(100)
        public var breaker = CircuitBreaker.Options()

        public init() {}
    }

    let queue: any DeliveryQueue
    let backends: [String: GameBackendSettings]
    /// Each backend's `max_in_flight`, the cap across all workers the lease enforces.
    let limits: [String: Int]
    let client: GameBackendClient
    let options: Options
    let logger: Logger
    /// Attempts in flight per tenant, and each tenant's breaker.
    let state: NIOLockedValueBox<(inFlight: [String: Int], breakers: [String: CircuitBreaker])>
    let random = NIOLockedValueBox(SystemRandomNumberGenerator())

    public init(queue: any DeliveryQueue, backends: [String: GameBackendSettings], client: GameBackendClient, options: Options = Options(), logger: Logger) {
        self.queue = queue
        self.backends = backends
        self.limits = backends.mapValues(\.maximumInFlight)
        self.client = client
        self.options = options
        self.logger = logger
        self.state = NIOLockedValueBox(([:], backends.mapValues { _ in CircuitBreaker(options: options.breaker) }))
    }

    public func run() async throws {
        guard !backends.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        logger.info("delivery worker started", metadata: ["worker": "\(options.workerID)", "backends": "\(backends.keys.sorted().joined(separator: ","))"])
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled, !Task.isShuttingDownGracefully {
                let leased = await leaseDue()
                for delivery in leased {
                    group.addTask { await self.attempt(delivery) }
                }
                if leased.isEmpty {
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.options.pollInterval) }
                }
            }
            // Attempts in flight finish (each within its timeout); nothing new is leased.
        }
        logger.info("delivery worker stopped", metadata: ["worker": "\(options.workerID)"])
    }

    /// Leases what the free slots allow; none when every slot is taken or the queue is unreachable.
    func leaseDue() async -> [LeasedDelivery] {
        let now = ContinuousClock.now.nanosecondsSinceStart
        let free = state.withLockedValue { options.maximumInFlight - $0.inFlight.values.reduce(0, +) }
        guard free > 0 else { return [] }
        // A tenant whose breaker is open is left out; once its open time is over, one delivery
        // probes the backend (half-open) before the others follow.
        let (capacity, probes): ([String: Int], Set<String>) = state.withLockedValue { state in
            var capacity: [String: Int] = [:]
            var probes: Set<String> = []
            for (tenant, settings) in backends {
                // No game takes more than half of this worker's slots while others have a backend.
                let share = backends.count > 1 ? max(1, options.maximumInFlight / 2) : options.maximumInFlight
                var slots = min(settings.maximumInFlight, share) - state.inFlight[tenant, default: 0]
                guard slots > 0 else { continue }
                if case .closed = state.breakers[tenant]?.state {} else {
                    guard state.breakers[tenant]?.permit(now: now) == .allowed else { continue }
                    slots = 1
                    probes.insert(tenant)
                }
                capacity[tenant] = slots
            }
            return (capacity, probes)
        }
        guard !capacity.isEmpty else { return [] }
        do {
            let leased = try await queue.lease(capacity: capacity, limits: limits, limit: free,
                                               worker: options.workerID, for: options.lease)
            state.withLockedValue { state in
                for delivery in leased { state.inFlight[delivery.tenant, default: 0] += 1 }
                for tenant in probes where !leased.contains(where: { $0.tenant == tenant }) { state.breakers[tenant]?.cancelProbe() }
            }
            return leased
        } catch {
            state.withLockedValue { state in for tenant in probes { state.breakers[tenant]?.cancelProbe() } }
            logger.warning("cannot lease deliveries", metadata: ["error": "\(String(reflecting: error))"])
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            return []
        }
    }

    /// One attempt: send, judge the answer, record it.
    func attempt(_ delivery: LeasedDelivery) async {
        defer { state.withLockedValue { $0.inFlight[delivery.tenant, default: 1] -= 1 } }
        guard let settings = backends[delivery.tenant] else { return }
        let startedAt = Date()
        let started = ContinuousClock.now
        var status: Int?
        var failure: String?
        var excerpt = ""
        let verdict: DeliveryVerdict
        do {
            let answer = try await client.post(delivery.body, webhookID: delivery.webhookID, to: settings, now: startedAt)
            status = answer.status
            excerpt = String(decoding: answer.body.prefix(4096), as: UTF8.self).storable(limit: 4096)
            verdict = DeliveryVerdict.classify(status: answer.status, headers: answer.headers, body: answer.body, event: delivery.type, now: Date())
        } catch {
            // Never the request itself: it carries the signature.
            failure = Self.describe(error).storable(limit: 300)
            verdict = .retry(retryAfter: nil)
        }
        let latency = ContinuousClock.now - started
        let next = random.withLockedValue { AttemptRecord.next(after: verdict, attempt: delivery.attempt, schedule: settings.retrySchedule, random: &$0) }
        // The breaker guards against a backend that cannot be reached or does not answer in
        // time (each such attempt holds a slot for its whole timeout); one that answers, even
        // 5xx, is paced by the retry schedule instead.
        state.withLockedValue { $0.breakers[delivery.tenant]?.record(success: failure == nil, now: ContinuousClock.now.nanosecondsSinceStart) }

        let record = AttemptRecord(startedAt: startedAt, latency: latency, httpStatus: status, error: failure, response: excerpt, next: next)
        guard await store(record, of: delivery) else { return }
        FulfilmentMetrics.record(delivery, record)
        switch next {
        case .failed: logger.error("delivery failed after its last attempt", metadata: Self.metadata(delivery))
        case .endpointGone: logger.error("game backend answered 410 Gone: endpoint disabled", metadata: Self.metadata(delivery))
        case .declined(let reason): logger.warning("game declined a grant; order needs review", metadata: Self.metadata(delivery).merging(["reason": "\(reason)"]) { $1 })
        default: break
        }
    }

    /// Records the attempt, trying again for a while (a row lock held elsewhere, a database blip)
    /// while the lease lasts: a decline or a delivery the game applied is worth keeping, since
    /// the next attempt may only hear "already applied". False when it could not be recorded (the
    /// lease runs out and the delivery is attempted again: the game applies its webhook-id once).
    func store(_ record: AttemptRecord, of delivery: LeasedDelivery) async -> Bool {
        var wait: Duration = .milliseconds(500)
        for attempt in 1...5 {
            do {
                if try await queue.finish(delivery, record, worker: options.workerID) { return true }
                logger.warning("delivery lease lost before its attempt was recorded", metadata: Self.metadata(delivery))
                return false
            } catch {
                logger.error("cannot record a delivery attempt", metadata: Self.metadata(delivery).merging([
                    "error": "\(String(reflecting: error))", "try": "\(attempt)",
                ]) { $1 })
                if attempt == 5 || Task.isCancelled { return false }
                try? await Task.sleep(for: wait)
                wait *= 2
            }
        }
        return false
    }

    static func metadata(_ delivery: LeasedDelivery) -> Logger.Metadata {
        ["tenant": "\(delivery.tenant)", "order_id": "\(delivery.orderID)", "delivery_id": "\(delivery.id)", "type": "\(delivery.type.rawValue)",
         "attempt": "\(delivery.attempt)"]
    }

    /// A transport failure in words an operator can act on, without the request.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout: "timeout"
        case let error as HTTPClientError: "http client: \(error)"
        default: "\(type(of: error)): \(error)".prefix(300).description
        }
    }
}

extension ContinuousClock.Instant {
    /// Nanoseconds since an arbitrary fixed start: the breaker's clock.
    var nanosecondsSinceStart: Int64 { (self - ContinuousClock.Instant.processStart).nanoseconds }
    static let processStart = ContinuousClock.now
}

/// Deliveries by outcome, attempt latency, and dead letters (what operators alert on).
enum FulfilmentMetrics {
    static func record(_ delivery: LeasedDelivery, _ record: AttemptRecord) {
        let outcome = switch record.next {
        case .delivered: "delivered"
        case .declined: "declined"
        case .retry: "retry"
        case .failed: "failed"
        case .endpointGone: "gone"
        }
        Counter(label: "tollgate_fulfilment_attempts_total", dimensions: [("tenant", delivery.tenant), ("outcome", outcome)]).increment()
        Timer(label: "tollgate_fulfilment_attempt_duration_seconds", dimensions: [("tenant", delivery.tenant)]).recordNanoseconds(record.latency.nanoseconds)
        if record.next == .failed {
            Counter(label: "tollgate_fulfilment_dead_letters_total", dimensions: [("tenant", delivery.tenant)]).increment()
        }
    }
}
