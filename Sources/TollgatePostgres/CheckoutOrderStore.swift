import Foundation
import Logging
import PostgresNIO
import TollgateCatalog
import TollgateCheckout
import TollgateCore
import TollgateOrders

/// Checkout orders in Postgres: created at most once per (tenant, player, Idempotency-Key), with
/// their priced lines.
public struct CheckoutOrderStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// What each tenant's game backend takes: a callback that raced ahead of its order applies
    /// here, and its transitions write their outbox rows like any other.
    let fulfilment: PaymentEventStore.FulfilmentSubscriptions

    public init(client: PostgresClient, logger: Logger, fulfilment: PaymentEventStore.FulfilmentSubscriptions = [:]) {
        self.client = client
        self.logger = logger
        self.fulfilment = fulfilment
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
        /// The lines as priced when the order was made (empty for orders older than catalog pricing).
        public var lines: [StoredLine] = []
    }

    public struct StoredLine: Sendable, Equatable, Codable {
        public var sku: String
        public var title: String
        public var quantity: Int64
        public var unitAmountMinor: Int64
        public var amountMinor: Int64

        public init(sku: String, title: String, quantity: Int64, unitAmountMinor: Int64, amountMinor: Int64) {
            self.sku = sku
            self.title = title
            self.quantity = quantity
            self.unitAmountMinor = unitAmountMinor
            self.amountMinor = amountMinor
        }

        enum CodingKeys: String, CodingKey {
            case sku, title, quantity
            case unitAmountMinor = "unit_amount_minor"
            case amountMinor = "amount_minor"
        }
    }

    /// An order to make: who, priced how, under which Idempotency-Key and request fingerprint.
    public struct NewOrder: Sendable, Equatable {
        public var playerID: String
        public var country: String?
        public var returnURL: String
        public var priced: PricedOrder
        public var idempotencyKey: String
        public var fingerprint: String

        public init(playerID: String, country: String?, returnURL: String, priced: PricedOrder, idempotencyKey: String, fingerprint: String) {
            self.playerID = playerID
            self.country = country
            self.returnURL = returnURL
            self.priced = priced
            self.idempotencyKey = idempotencyKey
            self.fingerprint = fingerprint
        }
    }

    public enum CreateOutcome: Sendable, Equatable {
        /// The order was made now.
        case created(StoredOrder)
        /// This Idempotency-Key already made this order, for the same request.
        case existing(StoredOrder)
        /// This Idempotency-Key already made an order for a different request (another body or path).
        case keyReused
        /// The player already holds `held` of `sku`, whose limit is `limit`; this order would pass it.
        case purchaseLimitReached(sku: String, limit: Int64, held: Int64)
    }

    /// Statuses in which an order holds its items for a purchase limit: money was taken (or is
    /// being fought over). Canceled, expired and fully refunded orders hold nothing.
    static let holdingStatuses = ["authorized", "paid", "fulfilled", "partially_refunded", "disputed", "charged_back", "needs_review"]
    /// Unpaid orders that may still be paid (a failed PaymentIntent stays payable with another card)
    /// hold their items for `unpaidHold` after they were made: counting only paid orders would let
    /// fifty concurrent checkouts each see none and all pay; counting them for ever would lock a
    /// player who closed the page out of a limited offer.
    static let unpaidStatuses = ["created", "pending_payment", "failed"]
    public static let unpaidHold: Duration = .seconds(3600)

    /// Makes the order unless this (tenant, player, Idempotency-Key) already made one, and enforces
    /// the lines' purchase limits, all in one transaction serialized per player (a transaction-scoped
    /// advisory lock): two checkouts of one player never both pass a limit, and a retry always finds
    /// the order the first request made. Callbacks that raced ahead of the order (stored `pending`)
    /// are applied in the same transaction.
    ///
    /// With `notAfter`, an order made past that instant is rolled back instead of committed
    /// (``CheckoutOrderStoreError/deadlinePassed``): its caller was answered 503 at the deadline
    /// and may since have been answered otherwise (a refusal stored under the same key), so an
    /// abandoned call must not leave an order behind once Postgres answers again.
    public func create(tenant: String, orderID: String, order: NewOrder, notAfter: ContinuousClock.Instant? = nil) async throws -> CreateOutcome {
        try await PostgresMetrics.measure("create_order") {
            try await client.transaction(logger: logger) { connection in
                // Its own statement: a read in the same statement would use a snapshot older than the lock.
                let lock = "\(tenant)\u{1F}\(order.playerID)"
                try await connection.checkedQuery("SELECT pg_advisory_xact_lock(hashtextextended(\(lock), 12))", logger: logger)
                if let earlier = try await existing(tenant: tenant, playerID: order.playerID, idempotencyKey: order.idempotencyKey, on: connection) {
                    return Idempotency.sameRequest(stored: earlier.fingerprint, fingerprint: order.fingerprint) ? .existing(earlier.order) : .keyReused
                }
                let limited = order.priced.lines.filter { $0.purchaseLimit != nil }
                if !limited.isEmpty {
                    let held = try await connection.checkedQuery("""
                        SELECT l.sku, sum(l.quantity)::bigint FROM order_lines l
                        JOIN orders o ON o.tenant = l.tenant AND o.order_id = l.order_id
                        WHERE o.tenant = \(tenant) AND o.player_id = \(order.playerID) AND o.idempotency_key IS NOT NULL
                          AND l.sku = ANY(\(limited.map(\.sku)))
                          AND (o.status = ANY(\(Self.holdingStatuses))
                               OR o.status = ANY(\(Self.unpaidStatuses)) AND o.created_at > now() - make_interval(secs => \(Double(Self.unpaidHold.components.seconds))))
                        GROUP BY l.sku
                        """, logger: logger)
                    var holding: [String: Int64] = [:]
                    for try await (sku, quantity) in held.decode((String, Int64).self) { holding[sku] = quantity }
                    for line in limited {
                        let already = holding[line.sku, default: 0]
                        if let limit = line.purchaseLimit, already > limit - line.quantity {
                            return .purchaseLimitReached(sku: line.sku, limit: limit, held: already)
                        }
                    }
                }
                let priced = order.priced
                try await connection.checkedQuery("""
                    INSERT INTO orders (tenant, order_id, status, amount_minor, currency, player_id, idempotency_key, country, return_url, request_fingerprint)
                    VALUES (\(tenant), \(orderID), 'created', \(priced.totalMinor), \(priced.currency), \(order.playerID), \(order.idempotencyKey),
                        \(order.country), \(order.returnURL), \(order.fingerprint))
                    """, logger: logger)
                try await connection.checkedQuery("""
                    INSERT INTO order_lines (tenant, order_id, line, sku, title, quantity, unit_amount_minor, amount_minor, catalog_hash)
                    SELECT \(tenant), \(orderID), l.ordinality - 1, l.sku, l.title, l.quantity, l.unit, l.amount, \(priced.catalogHash)
                    FROM unnest(\(priced.lines.map(\.sku))::text[], \(priced.lines.map(\.title))::text[], \(priced.lines.map(\.quantity))::bigint[],
                                \(priced.lines.map(\.unitAmountMinor))::bigint[], \(priced.lines.map(\.amountMinor))::bigint[])
                         WITH ORDINALITY AS l(sku, title, quantity, unit, amount, ordinality)
                    """, logger: logger)
                try await PaymentEventStore(client: client, logger: logger, fulfilment: fulfilment).applyWaiting(tenant: tenant, orderID: orderID, on: connection)
                let rows = try await connection.checkedQuery("""
                    SELECT \(unescaped: Self.columns) FROM orders WHERE tenant = \(tenant) AND order_id = \(orderID)
                    """, logger: logger)
                // Last, so that only the commit itself can still outrun the deadline.
                if let notAfter, ContinuousClock.now > notAfter { throw CheckoutOrderStoreError.deadlinePassed }
                for try await row in rows.decode(Row.self) { return .created(Self.stored(row)) }
                throw CheckoutOrderStoreError.vanished
            }
        }
    }

    /// The columns every read of a checkout order returns, its lines as a JSON array last.
    static let columns = """
        order_id, player_id, status, amount_minor, currency, provider, provider_payment_id, last_error,
        (SELECT coalesce(json_agg(json_build_object('sku', l.sku, 'title', l.title, 'quantity', l.quantity,
                'unit_amount_minor', l.unit_amount_minor, 'amount_minor', l.amount_minor) ORDER BY l.line), '[]')::text
         FROM order_lines l WHERE l.tenant = orders.tenant AND l.order_id = orders.order_id)
        """
    typealias Row = (String, String, String, Int64, String, String?, String?, String?, String)

    /// Records the payment opened at the provider and moves a `created` order to `pending_payment`.
    /// An order a callback already moved on (the provider can be faster than our answer) keeps its
    /// status. The payment id becomes a link of the order, so callbacks that point only at the
    /// payment (and any that already arrived) find it. Returns the order as it now stands.
    public func recordPaymentOpened(tenant: String, orderID: String, provider: String, paymentID: String) async throws -> StoredOrder? {
        try await PostgresMetrics.measure("record_payment") {
            try await client.transaction(logger: logger) { connection in
                if let known = Provider(rawValue: provider) {
                    try await PaymentEventStore(client: client, logger: logger, fulfilment: fulfilment).link(
                        PaymentLink(tenant: tenant, provider: known, reference: paymentID), to: OrderKey(tenant: tenant, orderID: orderID), on: connection
                    )
                }
                let rows = try await connection.checkedQuery("""
                    UPDATE orders SET provider = \(provider), provider_payment_id = \(paymentID), last_error = NULL,
                        status = CASE WHEN status = 'created' THEN 'pending_payment' ELSE status END,
                        version = version + CASE WHEN status = 'created' THEN 1 ELSE 0 END, updated_at = now()
                    WHERE tenant = \(tenant) AND order_id = \(orderID)
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                for try await row in rows.decode(Row.self) {
                    return Self.stored(row)
                }
                return nil
            }
        }
    }

    /// Records why opening the payment failed; the order stays `created` so a retry can open it.
    /// Never over a payment already recorded (a late failure of an abandoned call, or of a first
    /// attempt whose retry succeeded, must not mark an order with a payment as failed).
    public func recordPaymentFailure(tenant: String, orderID: String, provider: String, error: String) async throws {
        try await PostgresMetrics.measure("record_payment") {
            _ = try await client.checkedQuery("""
                UPDATE orders SET provider = \(provider), last_error = \(error), updated_at = now()
                WHERE tenant = \(tenant) AND order_id = \(orderID) AND provider_payment_id IS NULL
                """, logger: logger)
        }
    }

    /// The order if it belongs to `playerID` (another player's order is "not found").
    public func find(tenant: String, orderID: String, playerID: String) async throws -> StoredOrder? {
        let rows = try await client.checkedQuery("""
            SELECT \(unescaped: Self.columns) FROM orders WHERE tenant = \(tenant) AND order_id = \(orderID) AND player_id = \(playerID)
            """, logger: logger)
        for try await row in rows.decode(Row.self) {
            return Self.stored(row)
        }
        return nil
    }

    /// The order this (tenant, player, Idempotency-Key) made, with the fingerprint of the request that made it.
    public func find(tenant: String, playerID: String, idempotencyKey: String) async throws -> (order: StoredOrder, fingerprint: String?)? {
        try await client.withConnection { connection in
            try await existing(tenant: tenant, playerID: playerID, idempotencyKey: idempotencyKey, on: connection)
        }
    }

    func existing(tenant: String, playerID: String, idempotencyKey: String, on connection: PostgresConnection) async throws -> (order: StoredOrder, fingerprint: String?)? {
        let rows = try await connection.checkedQuery("""
            SELECT \(unescaped: Self.columns), request_fingerprint FROM orders
            WHERE tenant = \(tenant) AND player_id = \(playerID) AND idempotency_key = \(idempotencyKey)
            """, logger: logger)
        for try await row in rows.decode((String, String, String, Int64, String, String?, String?, String?, String, String?).self) {
            return (Self.stored((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8)), row.9)
        }
        return nil
    }

    static func stored(_ row: Row) -> StoredOrder {
        StoredOrder(orderID: row.0, playerID: row.1, status: OrderStatus(rawValue: row.2) ?? .needsReview, amountMinor: row.3,
                    currency: row.4, provider: row.5, providerPaymentID: row.6, lastError: row.7,
                    lines: (try? JSONDecoder().decode([StoredLine].self, from: Data(row.8.utf8))) ?? [])
    }
}

public enum CheckoutOrderStoreError: Error {
    /// The idempotent insert found neither its own row nor a conflicting one (cannot happen in one transaction).
    case vanished
    /// The order was made after its `notAfter`: rolled back, its caller having been answered already.
    case deadlinePassed
}
