import Foundation
import Logging
import PostgresNIO
import TollgateCheckout
import TollgateCore
import TollgateOrders

/// Checkout orders in Postgres: created at most once per (tenant, player, Idempotency-Key).
public struct CheckoutOrderStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public struct StoredOrder: Sendable, Equatable {
        public var orderID: String
        public var playerID: String
        public var status: OrderStatus
        public var amountMinor: Int64
        public var currency: String
        public var provider: String?
        public var providerPaymentID: String?
        public var lastError: String?
    }

    /// Inserts `order` as `created` under `orderID`, unless this (tenant, player, key) already made
    /// an order: then returns that one. `created` says which. Callbacks that raced ahead of the
    /// order (stored `pending`) are applied in the same transaction.
    public func create(tenant: String, orderID: String, order: CheckoutOrder, idempotencyKey: String) async throws -> (order: StoredOrder, created: Bool) {
        try await PostgresMetrics.measure("create_order") {
            try await client.withTransaction(logger: logger) { connection in
                let items = String(decoding: try JSONSerialization.data(withJSONObject: order.items.map {
                    ["sku": $0.sku, "quantity": $0.quantity, "unit_amount_minor": $0.unitAmountMinor] as [String: Any]
                }, options: [.sortedKeys]), as: UTF8.self)
                let inserted = try await connection.query("""
                    INSERT INTO orders (tenant, order_id, status, amount_minor, currency, player_id, idempotency_key, items, country, return_url)
                    VALUES (\(tenant), \(orderID), 'created', \(order.totalMinor), \(order.currency), \(order.playerID), \(idempotencyKey),
                        \(items)::jsonb, \(order.country), \(order.returnURL))
                    ON CONFLICT (tenant, player_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                    RETURNING order_id
                    """, logger: logger)
                var created = false
                for try await _ in inserted.decode(String.self) { created = true }
                if created {
                    try await PaymentEventStore(client: client, logger: logger).applyWaiting(tenant: tenant, orderID: orderID, on: connection)
                }
                let rows = try await connection.query("""
                    SELECT order_id, player_id, status, amount_minor, currency, provider, provider_payment_id, last_error
                    FROM orders WHERE tenant = \(tenant) AND player_id = \(order.playerID) AND idempotency_key = \(idempotencyKey)
                    """, logger: logger)
                for try await row in rows.decode((String, String, String, Int64, String, String?, String?, String?).self) {
                    return (Self.stored(row), created)
                }
                throw CheckoutOrderStoreError.vanished
            }
        }
    }

    /// Records the payment opened at the provider and moves a `created` order to `pending_payment`.
    /// An order a callback already moved on (the provider can be faster than our answer) keeps its
    /// status. The payment id becomes a link of the order, so callbacks that point only at the
    /// payment (and any that already arrived) find it. Returns the order as it now stands.
    public func recordPaymentOpened(tenant: String, orderID: String, provider: String, paymentID: String) async throws -> StoredOrder? {
        try await PostgresMetrics.measure("record_payment") {
            try await client.withTransaction(logger: logger) { connection in
                if let known = Provider(rawValue: provider) {
                    try await PaymentEventStore(client: client, logger: logger).link(
                        PaymentLink(tenant: tenant, provider: known, reference: paymentID), to: OrderKey(tenant: tenant, orderID: orderID), on: connection
                    )
                }
                let rows = try await connection.query("""
                    UPDATE orders SET provider = \(provider), provider_payment_id = \(paymentID), last_error = NULL,
                        status = CASE WHEN status = 'created' THEN 'pending_payment' ELSE status END,
                        version = version + CASE WHEN status = 'created' THEN 1 ELSE 0 END, updated_at = now()
                    WHERE tenant = \(tenant) AND order_id = \(orderID)
                    RETURNING order_id, player_id, status, amount_minor, currency, provider, provider_payment_id, last_error
                    """, logger: logger)
                for try await row in rows.decode((String, String, String, Int64, String, String?, String?, String?).self) {
                    return Self.stored(row)
                }
                return nil
            }
        }
    }

    /// Records why opening the payment failed; the order stays `created` so a retry can open it.
    public func recordPaymentFailure(tenant: String, orderID: String, provider: String, error: String) async throws {
        try await PostgresMetrics.measure("record_payment") {
            _ = try await client.query("""
                UPDATE orders SET provider = \(provider), last_error = \(error), updated_at = now()
                WHERE tenant = \(tenant) AND order_id = \(orderID)
                """, logger: logger)
        }
    }

    /// The order if it belongs to `playerID` (another player's order is "not found").
    public func find(tenant: String, orderID: String, playerID: String) async throws -> StoredOrder? {
        let rows = try await client.query("""
            SELECT order_id, player_id, status, amount_minor, currency, provider, provider_payment_id, last_error
            FROM orders WHERE tenant = \(tenant) AND order_id = \(orderID) AND player_id = \(playerID)
            """, logger: logger)
        for try await row in rows.decode((String, String, String, Int64, String, String?, String?, String?).self) {
            return Self.stored(row)
        }
        return nil
    }

    static func stored(_ row: (String, String, String, Int64, String, String?, String?, String?)) -> StoredOrder {
        StoredOrder(orderID: row.0, playerID: row.1, status: OrderStatus(rawValue: row.2) ?? .needsReview, amountMinor: row.3,
                    currency: row.4, provider: row.5, providerPaymentID: row.6, lastError: row.7)
    }
}

public enum CheckoutOrderStoreError: Error {
    /// The idempotent insert found neither its own row nor a conflicting one (cannot happen in one transaction).
    case vanished
}
