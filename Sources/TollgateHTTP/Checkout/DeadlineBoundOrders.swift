import Metrics
import Synchronization
import TollgateCore
import TollgatePostgres

/// The checkout's orders with a deadline on every call: a Game Hub page gets 503 with Retry-After
/// within `timeout` when Postgres does not answer, instead of waiting for the pool (about a minute
/// with Postgres cut off) while its request holds a connection and a task.
///
/// A call past its deadline is abandoned, not cancelled (``resultWithin``). A `create` that gets
/// to Postgres later rolls back instead of committing (its `notAfter`): the page was answered 503
/// and may since have been answered otherwise. The other calls may still land, and that is safe:
/// a payment id recorded late is the payment the provider holds for the order (the retry with the
/// same key finds it), and a late failure is never recorded over a payment.
/// At most `maximumOutstanding` calls may be in flight, the abandoned among them: a healthy
/// Postgres finishes calls in milliseconds, so only stuck ones pile up towards the cap, and beyond
/// it new calls fail at once rather than queue on the pool behind them.
struct DeadlineBoundOrders: CheckoutOrders {
    let base: any CheckoutOrders
    let timeout: Duration
    let maximumOutstanding: Int
    private let outstanding = Outstanding()

    /// Calls started and not yet finished, the abandoned among them.
    private final class Outstanding: Sendable {
        let count = Mutex(0)
    }

    init(_ base: any CheckoutOrders, timeout: Duration, maximumOutstanding: Int = 256) {
        self.base = base
        self.timeout = timeout
        self.maximumOutstanding = maximumOutstanding
    }

    /// Why a call failed without Postgres's answer (the routes answer 503 for any store error).
    enum Failure: Error, CustomStringConvertible {
        case deadlinePassed(Duration)
        case tooManyOutstanding(Int)

        var description: String {
            switch self {
            case .deadlinePassed(let timeout): "Postgres did not answer the checkout within \(timeout)"
            case .tooManyOutstanding(let count): "\(count) checkout calls to Postgres are outstanding"
            }
        }
    }

    /// Calls to Postgres in flight, the abandoned among them: stays up while Postgres is stuck.
    private static let outstandingGauge = Gauge(label: "tollgate_checkout_store_calls_outstanding")
    private static let timedOut = Counter(label: "tollgate_checkout_store_timeouts_total", dimensions: [("outcome", "deadline_passed")])
    private static let refused = Counter(label: "tollgate_checkout_store_timeouts_total", dimensions: [("outcome", "too_many_outstanding")])

    private func bounded<T: Sendable>(_ call: @escaping @Sendable () async throws -> T) async throws -> T {
        let admitted = outstanding.count.withLock { count in
            guard count < maximumOutstanding else { return false }
            count += 1
            Self.outstandingGauge.record(count)
            return true
        }
        guard admitted else {
            Self.refused.increment()
            throw Failure.tooManyOutstanding(maximumOutstanding)
        }
        let result = await resultWithin(timeout, finished: { [outstanding] in
            outstanding.count.withLock { count in
                count -= 1
                Self.outstandingGauge.record(count)
            }
        }, call)
        guard let result else {
            Self.timedOut.increment()
            throw Failure.deadlinePassed(timeout)
        }
        return try result.get()
    }

    /// The one call that must not land late: past its deadline the order is rolled back, not
    /// committed (the page may have been answered otherwise since, e.g. a refusal under its key).
    func create(tenant: String, orderID: String, order: CheckoutOrderStore.NewOrder, notAfter: ContinuousClock.Instant?) async throws -> CheckoutOrderStore.CreateOutcome {
        let deadline = min(notAfter ?? .now + timeout, .now + timeout)
        return try await bounded { [base] in try await base.create(tenant: tenant, orderID: orderID, order: order, notAfter: deadline) }
    }

    func recordPaymentOpened(tenant: String, orderID: String, provider: String, paymentID: String) async throws -> CheckoutOrderStore.StoredOrder? {
        try await bounded { [base] in try await base.recordPaymentOpened(tenant: tenant, orderID: orderID, provider: provider, paymentID: paymentID) }
    }

    func recordPaymentFailure(tenant: String, orderID: String, provider: String, error: String) async throws {
        try await bounded { [base] in try await base.recordPaymentFailure(tenant: tenant, orderID: orderID, provider: provider, error: error) }
    }

    func find(tenant: String, orderID: String, playerID: String) async throws -> CheckoutOrderStore.StoredOrder? {
        try await bounded { [base] in try await base.find(tenant: tenant, orderID: orderID, playerID: playerID) }
    }

    func find(tenant: String, playerID: String, idempotencyKey: String) async throws -> (order: CheckoutOrderStore.StoredOrder, fingerprint: String?)? {
        try await bounded { [base] in try await base.find(tenant: tenant, playerID: playerID, idempotencyKey: idempotencyKey) }
    }
}
