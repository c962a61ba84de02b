import TollgateCheckout
import TollgateFulfilment
import TollgatePayments
import TollgatePostgres
import TollgateRedis
import TollgateRedisStores

/// What the checkout pipeline needs from its stores and its provider, as small protocols: the
/// real ones are Postgres (`CheckoutOrderStore`), Redis (`IdempotencyRecordStore`) and the
/// provider client (`PaymentProviderClient`); the in-process route tests use fakes.

/// Orders, created at most once per (tenant, player, Idempotency-Key), with their priced lines.
protocol CheckoutOrders: Sendable {
    /// `notAfter`: roll back rather than commit an order made after this instant (nil: no limit).
    func create(tenant: String, orderID: String, order: CheckoutOrderStore.NewOrder, notAfter: ContinuousClock.Instant?) async throws -> CheckoutOrderStore.CreateOutcome
    func recordPaymentOpened(tenant: String, orderID: String, provider: String, paymentID: String) async throws -> CheckoutOrderStore.StoredOrder?
    func recordPaymentFailure(tenant: String, orderID: String, provider: String, error: String) async throws
    func find(tenant: String, orderID: String, playerID: String) async throws -> CheckoutOrderStore.StoredOrder?
    func find(tenant: String, playerID: String, idempotencyKey: String) async throws -> (order: CheckoutOrderStore.StoredOrder, fingerprint: String?)?
}

/// Stored answers for replay, and the in-flight claim: a lease renewed while the request runs.
protocol IdempotencyRecords: Sendable {
    var lease: Duration { get }
    func claim(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String) async throws(RedisError) -> Idempotency.Record?
    func renew(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String) async throws(RedisError) -> Bool
    func complete(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String, response: Idempotency.StoredResponse) async throws(RedisError) -> Bool
    func release(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String) async throws(RedisError)
}

/// The tenant's payment provider.
protocol PaymentOpener: Sendable {
    /// Whether a call would be refused now (an open breaker), checked before any order is written.
    func refusal() -> PaymentProviderClient.Failure?
    func openPayment(orderID: String, amountMinor: Int64, currency: String) async throws(PaymentProviderClient.Failure) -> OpenedPayment
    /// Finds again a payment opened earlier, by the provider's id (the provider forgets
    /// idempotency keys after 24 hours, so an order with a payment id retrieves instead of creating).
    func retrievePayment(id: String) async throws(PaymentProviderClient.Failure) -> OpenedPayment
}

/// The game's word on a player before anything is sold (`PlayerVerifier`; fakes in route tests).
protocol PlayerVerifying: Sendable {
    func verifies(tenant: String) -> Bool
    func decide(tenant: String, player: String) async -> PlayerVerifier.Decision
}

extension PlayerVerifier: PlayerVerifying {}
extension CheckoutOrderStore: CheckoutOrders {}
extension IdempotencyRecordStore: IdempotencyRecords {}
extension PaymentProviderClient: PaymentOpener {}
