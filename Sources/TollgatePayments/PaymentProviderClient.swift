import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import TollgateCheckout
import TollgateCore
import TollgateConfig

/// Opens payments at one tenant's provider (Stripe's PaymentIntents shape) through AsyncHTTPClient,
/// and retrieves a payment already opened (the provider forgets idempotency keys after 24 hours).
///
/// Every attempt carries the order id as `Idempotency-Key`, which is what makes retrying safe:
/// the provider answers a repeat with the first result and never opens a second payment. Retries
/// happen only for transient outcomes, with backoff, inside one deadline (`payments.timeout`).
/// A circuit breaker per (tenant, provider) refuses calls at once while the provider is failing.
/// Creates and retrieves share the breaker, the retry policy and the deadline; the metrics
/// `tollgate_upstream_requests_total` and `tollgate_upstream_duration_seconds` carry an
/// `operation` label (`create`, `retrieve`).
public final class PaymentProviderClient: Sendable {
    public enum Failure: Error, Sendable, Equatable {
        /// The breaker is open: answer 503 with this Retry-After.
        case circuitOpen(retryAfterSeconds: Int)
        /// The provider declined the payment (final for this request).
        case declined(code: String, message: String)
        /// The provider refused our request; not the player's fault, not fixed by retrying.
        case rejected(status: Int, code: String)
        /// No usable answer in time, or only transient errors.
        case unavailable(reason: String, timedOut: Bool)
    }

    let settings: CheckoutSettings.Payments
    let tenant: String
    let http: HTTPClient
    let breaker: NIOLockedValueBox<CircuitBreaker>
    let retry: UpstreamRetryPolicy
    let logger: Logger

    public init(tenant: String, settings: CheckoutSettings.Payments, breaker: CircuitBreaker.Options = .init(), logger: Logger) {
        self.tenant = tenant
        self.settings = settings
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .nanoseconds(settings.connectTimeout.nanoseconds))
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.breaker = NIOLockedValueBox(CircuitBreaker(options: breaker))
        self.retry = UpstreamRetryPolicy(attempts: settings.attempts)
        self.logger = logger
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    static func now() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds) }

    /// Whether the breaker would refuse a call now (checked before any order is written).
    public func refusal() -> Failure? {
        let now = Self.now()
        return breaker.withLockedValue { $0.openFor(now: now) }.map { .circuitOpen(retryAfterSeconds: Self.seconds($0)) }
    }

    static func seconds(_ nanoseconds: Int64) -> Int { max(1, Int((nanoseconds + 999_999_999) / 1_000_000_000)) }

    /// Opens (or, for a repeat of the same order within the provider's 24 hours, finds again)
    /// the payment for `orderID`.
    public func openPayment(orderID: String, amountMinor: Int64, currency: String) async throws(Failure) -> OpenedPayment {
        let form = StripePaymentIntents.createForm(tenant: tenant, orderID: orderID, amountMinor: amountMinor, currency: currency)
        var request = HTTPClientRequest(url: settings.baseURL + StripePaymentIntents.path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Idempotency-Key", value: orderID)
        request.body = .bytes(ByteBuffer(string: form))
        return try await call(.create, request, logMetadata: [:]) { StripePaymentIntents.outcome(status: $0, body: $1) }
    }

    /// Finds again the payment `id` that an earlier ``openPayment(orderID:amountMinor:currency:)``
    /// opened (`GET /v1/payment_intents/{id}`), with its client secret: what an order that already
    /// has its payment id does instead of creating, since the provider forgets idempotency keys
    /// after 24 hours. Same breaker, retries and deadline as opening. An id that is not a
    /// PaymentIntent id (`pi_` and letters, digits, underscores) is refused without a request, as
    /// `.rejected(status: 0, code: "invalid_payment_intent_id")`; an id the provider does not know
    /// is `.rejected(status: 404, code: "resource_missing")`.
    public func retrievePayment(id: String) async throws(Failure) -> OpenedPayment {
        guard let path = StripePaymentIntents.retrievePath(id: id) else {
            // Our own bug (a stored id that is not one): no request, no metric, the breaker untouched.
            logger.error("refused to retrieve a payment with a malformed id", metadata: ["tenant": "\(tenant)", "length": "\(id.utf8.count)"])
            throw .rejected(status: 0, code: StripePaymentIntents.invalidIDCode)
        }
        var request = HTTPClientRequest(url: settings.baseURL + path)
        request.method = .GET
        return try await call(.retrieve, request, logMetadata: ["payment_id": "\(id)"]) {
            StripePaymentIntents.retrieveOutcome(status: $0, body: $1, requestedID: id)
        }
    }

    /// What a call does at the provider: the `operation` label of the upstream metrics.
    enum Operation: String, Sendable {
        case create
        case retrieve
    }

    /// One provider call: the breaker's permit, attempts with backoff for transient outcomes inside
    /// one deadline, metrics, the breaker's record, and the outcome as a result or a ``Failure``.
    /// `request` comes without credentials (they are added here); `read` takes an answer's status and body.
    private func call(
        _ operation: Operation,
        _ request: HTTPClientRequest,
        logMetadata: Logger.Metadata,
        read: (Int, [UInt8]) -> UpstreamOutcome
    ) async throws(Failure) -> OpenedPayment {
        switch breaker.withLockedValue({ $0.permit(now: Self.now()) }) {
        case .refused(let retryAfter): throw .circuitOpen(retryAfterSeconds: Self.seconds(retryAfter))
        case .allowed: break
        }
        let started = ContinuousClock.now
        let deadline = started + settings.timeout
        var request = request
        request.headers.add(name: "Authorization", value: "Bearer \(settings.secretKey.exposedValue)")
        var attempt = 0
        var outcome: UpstreamOutcome = .transient("not attempted")
        var timedOut = false
        while true {
            attempt += 1
            (outcome, timedOut) = await send(request, deadline: deadline, read: read)
            Counter(label: "tollgate_upstream_requests_total",
                    dimensions: [("provider", settings.provider), ("operation", operation.rawValue), ("outcome", Self.label(outcome))]).increment()
            guard let pause = retry.delay(after: outcome, attempt: attempt, remaining: deadline - .now) else { break }
            try? await Task.sleep(for: pause)
        }
        Timer(label: "tollgate_upstream_duration_seconds", dimensions: [("provider", settings.provider), ("operation", operation.rawValue)],
              preferredDisplayUnit: .seconds)
            .recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        let upstreamHealthy: Bool = if case .transient = outcome { false } else { true }
        breaker.withLockedValue { $0.record(success: upstreamHealthy, now: Self.now()) }
        var metadata = logMetadata
        metadata["tenant"] = "\(tenant)"
        metadata["operation"] = "\(operation.rawValue)"
        switch outcome {
        case .opened(let payment): return payment
        case .declined(let code, let message): throw .declined(code: code, message: message)
        case .rejected(let status, let code):
            metadata["status"] = "\(status)"
            metadata["code"] = "\(code)"
            logger.error("provider rejected the payment request", metadata: metadata)
            throw .rejected(status: status, code: code)
        case .transient(let reason):
            metadata["reason"] = "\(reason)"
            metadata["attempts"] = "\(attempt)"
            logger.warning("provider unavailable", metadata: metadata)
            throw .unavailable(reason: reason, timedOut: timedOut)
        }
    }

    /// One attempt: the request (never logged: it carries the secret key) within what is left of the deadline.
    private func send(_ request: HTTPClientRequest, deadline: ContinuousClock.Instant,
                      read: (Int, [UInt8]) -> UpstreamOutcome) async -> (UpstreamOutcome, timedOut: Bool) {
        let remaining = deadline - .now
        guard remaining > .zero else { return (.transient("deadline passed"), true) }
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(remaining.nanoseconds))
            let body = try await response.body.collect(upTo: 1 << 20)
            return (read(Int(response.status.code), Array(buffer: body)), false)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return (.transient("timed out"), true)
        } catch {
            return (.transient("network: \(type(of: error))"), false)
        }
    }

    static func label(_ outcome: UpstreamOutcome) -> String {
        switch outcome {
        case .opened: "opened"
        case .declined: "declined"
        case .rejected: "rejected"
        case .transient: "transient"
        }
    }
}
