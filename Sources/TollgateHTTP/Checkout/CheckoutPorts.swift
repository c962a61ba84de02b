import TollgateCheckout
import TollgatePayments
import TollgatePostgres
import TollgateRedis
import TollgateRedisStores

/// What the checkout pipeline needs from its stores and its provider, as small protocols: the
/// real ones are Postgres (`CheckoutOrderStore`), Redis (`IdempotencyRecordStore`) and the
/// provider client (`PaymentProviderClient`); the in-process route tests use fakes.

/// Orders, created at most once per (tenant, player, Idempotency-Key).
protocol CheckoutOrders: Sendable {
    func create(tenant: String, orderID: String, order: CheckoutOrder, idempotencyKey: String) async throws -> (order: CheckoutOrderStore.StoredOrder, created: Bool)
    func recordPaymentOpened(tenant: String, orderID: String, provider: String, paymentID: String) async throws -> CheckoutOrderStore.StoredOrder?
    func recordPaymentFailure(tenant: String, orderID: String, provider: String, error: String) async throws
    func find(tenant: String, orderID: String, playerID: String) async throws -> CheckoutOrderStore.StoredOrder?
}

/// Stored answers for replay, and the in-flight claim.
protocol IdempotencyRecords: Sendable {
    func claim(tenant: String, player: String, idempotencyKey: String, fingerprint: String) async throws(RedisError) -> Idempotency.Record?
    func complete(tenant: String, player: String, idempotencyKey: String, fingerprint: String, response: Idempotency.StoredResponse) async throws(RedisError)
    func release(tenant: String, player: String, idempotencyKey: String) async throws(RedisError)
}

/// The tenant's payment provider.
protocol PaymentOpener: Sendable {
    /// Whether a call would be refused now (an open breaker), checked before any order is written.
    func refusal() -> PaymentProviderClient.Failure?
    func openPayment(orderID: String, amountMinor: Int64, currency: String) async throws(PaymentProviderClient.Failure) -> OpenedPayment
}

extension CheckoutOrderStore: CheckoutOrders {}
extension IdempotencyRecordStore: IdempotencyRecords {}
extension PaymentProviderClient: PaymentOpener {}
