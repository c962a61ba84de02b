import Foundation
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import TollgateCheckout
import TollgateConfig
import TollgateCore
@testable import TollgateHTTP
import TollgateOrders
import TollgatePayments
@testable import TollgatePostgres
import TollgateRedis
@testable import TollgateRedisStores

/// In-memory stand-ins for the pipelines' ports: each answers as scripted and records its calls.
/// They are for the pipeline decisions only (status codes, headers, bodies); the real stores have
/// their own tests against Redis and Postgres.

/// Claims as scripted, after asking `limiter` (the real store decides both in one round trip).
final class FakeClaims: WebhookClaims, @unchecked Sendable {
    let state = NIOLockedValueBox((answer: WebhookClaim.claimed, done: [String](), released: [String]()))
    let limiter: FakeLimiter?
    init(_ answer: WebhookClaim = .claimed, limiter: FakeLimiter? = nil) {
        self.limiter = limiter
        state.withLockedValue { $0.answer = answer }
    }
    func claim(_ events: [PaymentEvent], limitedAs subject: RateLimitSubject) async -> WebhookAdmission {
        let verdict = await limiter?.check(subject) ?? .unlimited
        guard verdict.admitted else { return .denied(verdict) }
        return .admitted(state.withLockedValue { $0.answer }, verdict)
    }
    func markDone(_ events: [PaymentEvent]) async { state.withLockedValue { $0.done += events.map(\.providerEventID) } }
    func release(_ events: [PaymentEvent]) async { state.withLockedValue { $0.released += events.map(\.providerEventID) } }
    var done: [String] { state.withLockedValue { $0.done } }
    var released: [String] { state.withLockedValue { $0.released } }
}

struct CommitUnavailable: Error {}

final class FakeCommitter: EventCommitter, @unchecked Sendable {
    enum Script { case outcome(CommitOutcome), fail, throwWhole }
    let script: NIOLockedValueBox<[Script]>
    let calls = NIOLockedValueBox(0)
    /// One script entry per event, reused for all if there is one.
    init(_ script: Script...) { self.script = NIOLockedValueBox(script) }
    func commit(_ events: [PaymentEvent]) async throws -> [Result<CommitOutcome, any Error>] {
        calls.withLockedValue { $0 += 1 }
        let script = self.script.withLockedValue { $0 }
        return try events.indices.map { index in
            switch script[min(index, script.count - 1)] {
            case .outcome(let outcome): .success(outcome)
            case .fail: .failure(CommitUnavailable())
            case .throwWhole: throw CommitUnavailable()
            }
        }
    }
}

final class FakeLimiter: RateLimiting, @unchecked Sendable {
    let admitted: Bool
    let calls = NIOLockedValueBox(0)
    init(admitted: Bool) { self.admitted = admitted }
    func check(_ subject: RateLimitSubject) async -> RateLimitVerdict {
        calls.withLockedValue { $0 += 1 }
        let state = RateLimitVerdict.RuleState(name: "tenant-burst", quota: 10, windowSeconds: 1, remaining: admitted ? 9 : 0, resetSeconds: 1)
        return RateLimitVerdict(admitted: admitted, limiting: state, retryAfterSeconds: admitted ? 0 : 3, decidedLocally: false)
    }
}

final class FakeOrders: CheckoutOrders, @unchecked Sendable {
    struct Down: Error {}
    let state = NIOLockedValueBox((orders: [String: CheckoutOrderStore.StoredOrder](), byKey: [String: (orderID: String, fingerprint: String)](),
                                   failures: [String](), down: false, recordFails: false))

    func create(tenant: String, orderID: String, order: CheckoutOrderStore.NewOrder, notAfter: ContinuousClock.Instant?) async throws -> CheckoutOrderStore.CreateOutcome {
        try state.withLockedValue { state in
            if state.down { throw Down() }
            if let existing = state.byKey["\(order.playerID)|\(order.idempotencyKey)"], let stored = state.orders[existing.orderID] {
                return existing.fingerprint == order.fingerprint ? .existing(stored) : .keyReused
            }
            let lines = order.priced.lines.map {
                CheckoutOrderStore.StoredLine(sku: $0.sku, title: $0.title, quantity: $0.quantity, unitAmountMinor: $0.unitAmountMinor, amountMinor: $0.amountMinor)
            }
            let stored = CheckoutOrderStore.StoredOrder(orderID: orderID, playerID: order.playerID, status: .created, amountMinor: order.priced.totalMinor,
                                                        currency: order.priced.currency, provider: nil, providerPaymentID: nil, lastError: nil, lines: lines)
            state.orders[orderID] = stored
            state.byKey["\(order.playerID)|\(order.idempotencyKey)"] = (orderID, order.fingerprint)
            return .created(stored)
        }
    }

    func recordPaymentOpened(tenant: String, orderID: String, provider: String, paymentID: String) async throws -> CheckoutOrderStore.StoredOrder? {
        try state.withLockedValue { state in
            if state.recordFails { throw Down() }
            state.orders[orderID]?.status = .pendingPayment
            state.orders[orderID]?.provider = provider
            state.orders[orderID]?.providerPaymentID = paymentID
            return state.orders[orderID]
        }
    }

    func recordPaymentFailure(tenant: String, orderID: String, provider: String, error: String) async throws {
        state.withLockedValue { $0.failures.append(error) }
    }

    func find(tenant: String, orderID: String, playerID: String) async throws -> CheckoutOrderStore.StoredOrder? {
        state.withLockedValue { $0.orders[orderID].flatMap { $0.playerID == playerID ? $0 : nil } }
    }

    func find(tenant: String, playerID: String, idempotencyKey: String) async throws -> (order: CheckoutOrderStore.StoredOrder, fingerprint: String?)? {
        state.withLockedValue { state in
            state.byKey["\(playerID)|\(idempotencyKey)"].flatMap { key in state.orders[key.orderID].map { ($0, key.fingerprint) } }
        }
    }
}

final class FakeIdempotency: IdempotencyRecords, @unchecked Sendable {
    let records = NIOLockedValueBox([String: Idempotency.Record]())
    let renewals = NIOLockedValueBox(0)
    let lease: Duration
    init(lease: Duration = .seconds(5)) { self.lease = lease }

    func claim(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String) async throws(RedisError) -> Idempotency.Record? {
        records.withLockedValue { records in
            let key = "\(player)|\(idempotencyKey)"
            if let existing = records[key] { return existing }
            records[key] = .inFlight(fingerprint: fingerprint)
            return nil
        }
    }
    func renew(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String) async throws(RedisError) -> Bool {
        renewals.withLockedValue { $0 += 1 }
        return true
    }
    func complete(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String, response: Idempotency.StoredResponse) async throws(RedisError) -> Bool {
        records.withLockedValue { records in
            let key = "\(player)|\(idempotencyKey)"
            if let current = records[key], current != .inFlight(fingerprint: fingerprint) { return false }
            records[key] = .completed(fingerprint: fingerprint, response: response)
            return true
        }
    }
    func release(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String) async throws(RedisError) {
        _ = records.withLockedValue { $0.removeValue(forKey: "\(player)|\(idempotencyKey)") }
    }
}

final class FakeProvider: PaymentOpener, @unchecked Sendable {
    /// `failure` answers every open; `retrieveFailure` every retrieve. Payments opened here are
    /// remembered, so a retrieve finds them (with their client secret); another well-formed id is
    /// `resource_missing`, a malformed one is refused as the real client refuses it.
    let state = NIOLockedValueBox((refusal: PaymentProviderClient.Failure?.none, failure: PaymentProviderClient.Failure?.none, opened: 0,
                                   retrieveFailure: PaymentProviderClient.Failure?.none, retrieved: 0, payments: [String: OpenedPayment]()))
    func refusal() -> PaymentProviderClient.Failure? { state.withLockedValue { $0.refusal } }
    func openPayment(orderID: String, amountMinor: Int64, currency: String) async throws(PaymentProviderClient.Failure) -> OpenedPayment {
        let (failure, count) = state.withLockedValue { state in
            state.opened += 1
            return (state.failure, state.opened)
        }
        if let failure { throw failure }
        let payment = OpenedPayment(provider: "stripe", id: "pi_fake_\(count)", clientSecret: "pi_fake_\(count)_secret")
        state.withLockedValue { $0.payments[payment.id] = payment }
        return payment
    }
    func retrievePayment(id: String) async throws(PaymentProviderClient.Failure) -> OpenedPayment {
        let (failure, payment) = state.withLockedValue { state in
            state.retrieved += 1
            return (state.retrieveFailure, state.payments[id])
        }
        if let failure { throw failure }
        guard StripePaymentIntents.isPaymentIntentID(id) else { throw .rejected(status: 0, code: StripePaymentIntents.invalidIDCode) }
        guard let payment else { throw .rejected(status: 404, code: "resource_missing") }
        return payment
    }
    var opened: Int { state.withLockedValue { $0.opened } }
    var retrieved: Int { state.withLockedValue { $0.retrieved } }
}

extension ReadinessProbe {
    static let alwaysReady = ReadinessProbe(checks: [])
}
