import Foundation
import Logging
import PostgresNIO
import TollgateCatalog
import TollgateOrders

/// `--verify`: reads Postgres and the generator's ledger and checks the money invariants, each
/// with its counts. Any violation fails the run.
public struct LoadVerifier: Sendable {
    let client: PostgresClient
    let tenant: String
    let logger: Logger
    /// Checks that every payment opened at the simulator belongs to one order (its `/_sim/stats`).
    let simulatorStats: (@Sendable () async throws -> SimulatorCounts)?
    /// The tenant's catalog in force (re-read after the run): checkout lines sold under its hash
    /// must carry its prices.
    let catalog: ProductCatalog?
    /// The hash of the catalog the run's requests were priced from (what the pages "showed"):
    /// when it is not the one in force, the catalog changed during the run.
    let runCatalogHash: String?
    /// What the game-backend simulator acknowledged (`GET /_sim/deliveries`), for a tenant whose
    /// game backend it is: fulfilment is checked too.
    let gameDeliveries: (@Sendable () async throws -> [GameDelivery])?

    /// What the provider simulator counted (`GET /_sim/stats`).
    public struct SimulatorCounts: Sendable {
        public var paymentsOpened: Int
        public var ordersWithMoreThanOnePayment: Int
        public var deliveriesPending: Int

        public init(json: [String: Any]) {
            paymentsOpened = json["payment_intents_created"] as? Int ?? -1
            ordersWithMoreThanOnePayment = json["orders_with_more_than_one_payment"] as? Int ?? -1
            deliveriesPending = (json["deliveries"] as? [String: Any])?["pending"] as? Int ?? 0
        }
    }

    public init(client: PostgresClient, tenant: String, logger: Logger, simulatorStats: (@Sendable () async throws -> SimulatorCounts)? = nil,
                catalog: ProductCatalog? = nil, runCatalogHash: String? = nil, gameDeliveries: (@Sendable () async throws -> [GameDelivery])? = nil) {
        self.gameDeliveries = gameDeliveries
        self.client = client
        self.tenant = tenant
        self.logger = logger
        self.simulatorStats = simulatorStats
        self.catalog = catalog
        self.runCatalogHash = runCatalogHash ?? catalog?.contentHash
    }

    public func verify(_ ledger: LoadLedger) async throws -> Verification {
        var checks: [Verification.Check] = []
        func check(_ name: String, _ passed: Bool, _ detail: String) { checks.append(.init(name: name, passed: passed, detail: detail)) }

        // Events stored for the run, by the edge's identity (account, provider event id): those of
        // the seeded orders, and every event the generator sent, looked up by its identity. A
        // refund or dispute that names no order (Stripe, an Adyen REFUND, a Paddle adjustment) has
        // no order_id until the payment that links it has arrived, and never one if that payment
        // was not sent before the run ended: looked up by order alone, it would seem missing.
        // Each lookup is a join of its own, the two unioned by row id: a join can hash its set
        // (and spill it to disk), where a subquery under OR is a filter that Postgres hashes only
        // if the set fits work_mem and otherwise rescans for every stored event. `= ANY(array)`
        // (60,000 orders, 220,000 events) and then `IN (...) OR IN (...)` (200,000 orders,
        // 270,000 events) each left a 30-minute soak still verifying after seven minutes or more.
        var stored: [String: Int] = [:]
        let sent = Array(ledger.genuine.keys) + Array(ledger.forged)
        let parts = sent.map { $0.split(separator: "|", maxSplits: 1).map(String.init) }.filter { $0.count == 2 }
        let events = try await client.query("""
            SELECT account, provider_event_id, count(*)::bigint FROM (
                SELECT e.id, e.account, e.provider_event_id FROM payment_events e
                JOIN unnest(\(ledger.seededOrders)::text[]) AS seeded(order_id) ON e.order_id = seeded.order_id
                WHERE e.tenant = \(tenant)
                UNION
                SELECT e.id, e.account, e.provider_event_id FROM payment_events e
                JOIN unnest(\(parts.map { $0[0] })::text[], \(parts.map { $0[1] })::text[]) AS sent(account, provider_event_id)
                  ON e.account = sent.account AND e.provider_event_id = sent.provider_event_id
                WHERE e.tenant = \(tenant)
            ) AS matched
            GROUP BY account, provider_event_id
            """, logger: logger)
        for try await (account, id, count) in events.decode((String, String, Int64).self) { stored[LoadLedger.key(account, id)] = Int(count) }

        let acknowledged = ledger.genuine.filter(\.value).map(\.key)
        let missing = acknowledged.filter { stored[$0] == nil }
        let twice = acknowledged.filter { (stored[$0] ?? 0) > 1 }
        check("acknowledged events stored exactly once", missing.isEmpty && twice.isEmpty,
              "\(acknowledged.count) unique genuine events answered 2xx; \(missing.count) missing, \(twice.count) stored more than once"
              + (missing.isEmpty ? "" : " (first missing: \(missing.sorted().prefix(3).joined(separator: ", ")))"))
        let unanswered = ledger.genuine.filter { !$0.value }.map(\.key)
        let unansweredStored = unanswered.filter { stored[$0] != nil }.count
        check("unacknowledged events", true, "\(unanswered.count) genuine events never answered 2xx (\(unansweredStored) of them stored anyway: safe, the provider's retry is a duplicate)")

        let forgedStored = ledger.forged.filter { stored[$0] != nil }
        check("no forged or stale event stored", forgedStored.isEmpty && ledger.forgedAcknowledged.isEmpty,
              "\(ledger.forged.count) forged/stale sent; \(forgedStored.count) stored, \(ledger.forgedAcknowledged.count) acknowledged")
        let unexplained = stored.keys.filter { ledger.genuine[$0] == nil }
        check("no event stored that was not genuinely sent", unexplained.isEmpty, "\(stored.count) events stored for the run; \(unexplained.count) unexplained")

        // Every applied transition legal, and each order's applied transitions a chain.
        let orderIDs = ledger.orderIDs
        let transitions = try await client.query("""
            SELECT t.order_id, t.from_status, t.to_status, e.kind FROM order_transitions t JOIN payment_events e ON e.id = t.event_id
            WHERE t.tenant = \(tenant) AND t.order_id IN (SELECT unnest(\(orderIDs)::text[])) AND t.outcome = 'applied' ORDER BY t.id
            """, logger: logger)
        var lastStatus: [String: String] = [:]
        var paidBy: [String: Int] = [:]
        var applied = 0
        var illegal: [String] = []
        for try await (order, from, to, kind) in transitions.decode((String, String, String, String).self) {
            applied += 1
            if let previous = lastStatus[order], previous != from { illegal.append("\(order): \(previous) then from \(from)") }
            lastStatus[order] = to
            if !Self.isLegal(kind: kind, from: from, to: to) { illegal.append("\(order): \(kind) \(from) -> \(to)") }
            if kind == PaymentEventKind.paymentSucceeded.rawValue, to == OrderStatus.paid.rawValue { paidBy[order, default: 0] += 1 }
        }
        check("no illegal transition", illegal.isEmpty, "\(applied) applied transitions over \(lastStatus.count) orders; \(illegal.count) illegal"
              + (illegal.isEmpty ? "" : " (\(illegal.prefix(3).joined(separator: "; ")))"))
        let paidTwice = paidBy.filter { $0.value > 1 }
        check("no order paid twice", paidTwice.isEmpty, "\(paidBy.count) orders paid; \(paidTwice.count) paid more than once")

        let overRefunded = try await client.query("""
            SELECT count(*)::bigint FROM orders WHERE tenant = \(tenant) AND order_id IN (SELECT unnest(\(orderIDs)::text[])) AND refunded_minor > amount_minor
            """, logger: logger)
        var over: Int64 = 0
        for try await count in overRefunded.decode(Int64.self) { over = count }
        check("no order refunded more than it was paid", over == 0, "\(over) over-refunded")

        // Money back, order by order, against what the generator sent.
        var seeded: [String: (status: String, refunded: Int64)] = [:]
        let rows = try await client.query("""
            SELECT order_id, status, refunded_minor FROM orders WHERE tenant = \(tenant) AND order_id IN (SELECT unnest(\(ledger.seededOrders)::text[]))
            """, logger: logger)
        for try await (order, status, refunded) in rows.decode((String, String, Int64).self) { seeded[order] = (status, refunded) }
        checks.append(Self.refundsCountedOnce(ledger, orders: seeded, stored: { stored[$0] != nil }))
        checks.append(Self.disputeOutcomesKept(ledger, orders: seeded))

        // Checkout: one order per key, one payment per order.
        let keys = Array(ledger.checkoutKeys.keys)
        let answeredTwice = ledger.checkoutKeys.filter { $0.value.count > 1 }
        let duplicates = try await client.query("""
            SELECT count(*)::bigint FROM (SELECT 1 FROM orders WHERE tenant = \(tenant) AND idempotency_key = ANY(\(keys))
            GROUP BY player_id, idempotency_key HAVING count(*) > 1) AS d
            """, logger: logger)
        var keysWithTwoOrders: Int64 = 0
        for try await count in duplicates.decode(Int64.self) { keysWithTwoOrders = count }
        let ordersMade = Set(ledger.checkoutKeys.values.flatMap { $0 }).count
        if !keys.isEmpty {
            check("every checkout key made at most one order", answeredTwice.isEmpty && keysWithTwoOrders == 0,
                  "\(keys.count) keys, \(ordersMade) orders answered; \(answeredTwice.count) keys answered with two orders, \(keysWithTwoOrders) with two rows")
            if let simulatorStats {
                let stats = try await simulatorStats()
                check("every checkout order opened at most one payment", stats.ordersWithMoreThanOnePayment == 0,
                      "\(stats.paymentsOpened) payments opened at the provider; \(stats.ordersWithMoreThanOnePayment) orders with more than one")
            }
            checks += Self.checkoutPricing(ledger, orders: try await checkoutOrders(ledger), catalog: catalog, runCatalogHash: runCatalogHash)
        }
        if let gameDeliveries {
            checks += try await fulfilmentChecks(orders: ledger.orderIDs, game: try await gameDeliveries())
        }
        return Verification(checks: checks)
    }

    /// A checkout order as Postgres holds it, with its lines.
    public struct StoredCheckoutOrder: Sendable, Equatable {
        public var orderID: String
        public var idempotencyKey: String?
        public var amountMinor: Int64
        public var currency: String
        public var country: String?
        public var lines: [Line]

        public struct Line: Sendable, Equatable {
            public var sku: String
            public var quantity: Int64
            public var unitAmountMinor: Int64
            public var amountMinor: Int64
            public var catalogHash: String

            public init(sku: String, quantity: Int64, unitAmountMinor: Int64, amountMinor: Int64, catalogHash: String) {
                self.sku = sku
                self.quantity = quantity
                self.unitAmountMinor = unitAmountMinor
                self.amountMinor = amountMinor
                self.catalogHash = catalogHash
            }
        }

        public init(orderID: String, idempotencyKey: String?, amountMinor: Int64, currency: String, country: String?, lines: [Line]) {
            self.orderID = orderID
            self.idempotencyKey = idempotencyKey
            self.amountMinor = amountMinor
            self.currency = currency
            self.country = country
            self.lines = lines
        }
    }

    /// Every order the run's checkout requests made: by their keys (unique to the run, so an order
    /// whose answer never came is found too) and by the ids they were answered with.
    func checkoutOrders(_ ledger: LoadLedger) async throws -> [StoredCheckoutOrder] {
        let keys = Array(ledger.checkoutKeys.keys)
        let answered = Array(Set(ledger.checkoutKeys.values.flatMap { $0 }))
        var orders: [String: StoredCheckoutOrder] = [:]
        let rows = try await client.query("""
            SELECT order_id, idempotency_key, amount_minor, currency, country FROM orders
            WHERE tenant = \(tenant) AND (idempotency_key = ANY(\(keys)) OR order_id = ANY(\(answered)))
            """, logger: logger)
        for try await (id, key, amount, currency, country) in rows.decode((String, String?, Int64, String, String?).self) {
            orders[id] = StoredCheckoutOrder(orderID: id, idempotencyKey: key, amountMinor: amount, currency: currency, country: country, lines: [])
        }
        let lines = try await client.query("""
            SELECT order_id, sku, quantity, unit_amount_minor, amount_minor, catalog_hash FROM order_lines
            WHERE tenant = \(tenant) AND order_id = ANY(\(Array(orders.keys))) ORDER BY order_id, line
            """, logger: logger)
        for try await (id, sku, quantity, unit, amount, hash) in lines.decode((String, String, Int64, Int64, Int64, String).self) {
            orders[id]?.lines.append(.init(sku: sku, quantity: quantity, unitAmountMinor: unit, amountMinor: amount, catalogHash: hash))
        }
        return orders.values.sorted { $0.orderID < $1.orderID }
    }

    /// The catalog invariants of the run's checkout orders: each holds the lines it was asked for,
    /// its amount is the sum of its lines and each line's amount its quantity times its unit
    /// price, and each line sold under the catalog in force carries that catalog's price for the
    /// order's currency and country. A line sold under another catalog file (an edit during the
    /// run) is counted, not failed, but must carry the price the request showed (else the edge
    /// should have answered 409). The refusals a catalog explains (409 price-changed, 422
    /// item-unavailable, 409 purchase-limit-reached) must not happen while it stays as it was.
    public static func checkoutPricing(_ ledger: LoadLedger, orders: [StoredCheckoutOrder], catalog: ProductCatalog?,
                                       runCatalogHash: String?) -> [Verification.Check] {
        var checks: [Verification.Check] = []
        let byID = Dictionary(orders.map { ($0.orderID, $0) }, uniquingKeysWith: { first, _ in first })
        let answered = Set(ledger.checkoutKeys.values.flatMap { $0 })
        func examples(_ list: [String]) -> String { list.isEmpty ? "" : " (\(list.prefix(3).joined(separator: "; ")))" }

        // Stored, with at least one line, and the SKUs and quantities the request named.
        let missing = answered.filter { byID[$0] == nil }.sorted()
        var empty: [String] = []
        var other: [String] = []
        for order in orders {
            if order.lines.isEmpty { empty.append("\(order.orderID): no lines"); continue }
            guard let key = order.idempotencyKey, let request = ledger.checkoutRequests[key] else { continue }
            let asked = Dictionary(request.lines.map { ($0.sku, $0.quantity) }, uniquingKeysWith: +)
            let held = Dictionary(order.lines.map { ($0.sku, $0.quantity) }, uniquingKeysWith: +)
            if asked != held {
                func text(_ items: [String: Int64]) -> String { items.sorted { $0.key < $1.key }.map { "\($0.value)x\($0.key)" }.joined(separator: "+") }
                other.append("\(order.orderID): holds \(text(held)), asked \(text(asked))")
            }
        }
        checks.append(.init(name: "every checkout order holds the items it was asked for", passed: missing.isEmpty && empty.isEmpty && other.isEmpty,
                            detail: "\(orders.count) checkout orders, \(orders.map(\.lines.count).reduce(0, +)) lines; \(missing.count) answered but not stored, "
                                + "\(empty.count) without lines, \(other.count) with other items than sent"
                                + examples(missing.map { "\($0): not stored" } + empty + other)))

        // The amount is the sum of the lines, each line its quantity times its unit price.
        var badTotals: [String] = []
        var badLines: [String] = []
        for order in orders {
            var sum: Int64 = 0
            for line in order.lines {
                let (product, overflow) = line.quantity.multipliedReportingOverflow(by: line.unitAmountMinor)
                if overflow || product != line.amountMinor {
                    badLines.append("\(order.orderID) \(line.sku): \(line.quantity) x \(line.unitAmountMinor) stored as \(line.amountMinor)")
                }
                sum = sum &+ line.amountMinor
            }
            if !order.lines.isEmpty, sum != order.amountMinor { badTotals.append("\(order.orderID): amount \(order.amountMinor), lines \(sum)") }
        }
        checks.append(.init(name: "every checkout order's amount is the sum of its lines", passed: badTotals.isEmpty && badLines.isEmpty,
                            detail: "\(orders.filter { !$0.lines.isEmpty }.count) orders with lines; \(badTotals.count) whose amount is not the sum of their lines, "
                                + "\(badLines.count) lines whose amount is not quantity x unit price" + examples(badTotals + badLines)))

        // Each line under the catalog in force carries its price; one under another file, the price shown.
        let currentHash = catalog?.contentHash
        var current = 0
        var elsewhere = 0
        var hashes: Set<String> = []
        var mispriced: [String] = []
        for order in orders {
            let shown = order.idempotencyKey.flatMap { ledger.checkoutRequests[$0] }.map {
                Dictionary($0.lines.map { ($0.sku, $0.shownUnitAmountMinor) }, uniquingKeysWith: { first, _ in first })
            } ?? [:]
            for line in order.lines {
                if let catalog, line.catalogHash == currentHash {
                    current += 1
                    let price = catalog.items[line.sku]?.unitPrice(currency: order.currency, country: order.country)
                    if price != line.unitAmountMinor {
                        mispriced.append("\(order.orderID) \(line.sku): \(line.unitAmountMinor) \(order.currency), the catalog says \(price.map { "\($0)" } ?? "none")")
                    }
                } else {
                    elsewhere += 1
                    hashes.insert(line.catalogHash)
                    if let price = shown[line.sku], price != line.unitAmountMinor {
                        mispriced.append("\(order.orderID) \(line.sku): \(line.unitAmountMinor) \(order.currency) under catalog \(line.catalogHash.prefix(12)), \(price) shown")
                    }
                }
            }
        }
        checks.append(.init(name: "every checkout order is priced from the catalog", passed: catalog != nil && mispriced.isEmpty,
                            detail: (catalog.map { "catalog \($0.file) (\($0.contentHash.prefix(12))): " } ?? "no catalog to price from: ")
                                + "\(current) lines sold under it, \(mispriced.count) lines not at its price (or the price shown); "
                                + "\(elsewhere) lines sold under \(hashes.count) other catalog files (not failures)" + examples(mispriced)))

        // Refusals the catalog explains: none while it stays the file the requests were priced from.
        let changed = runCatalogHash != nil && currentHash != nil && runCatalogHash != currentHash
        let priceChanged = ledger.checkoutProblems["price-changed"] ?? 0
        let unavailable = ledger.checkoutProblems["item-unavailable"] ?? 0
        let limited = ledger.checkoutProblems["purchase-limit-reached"] ?? 0
        checks.append(.init(name: "no checkout refused for its prices or items", passed: changed || priceChanged + unavailable + limited == 0,
                            detail: "\(ledger.checkoutRequests.count) checkout requests; \(priceChanged) answered 409 price-changed, "
                                + "\(unavailable) 422 item-unavailable, \(limited) 409 purchase-limit-reached"
                                + (changed ? " (the catalog changed during the run: refusals expected)" : "")))
        return checks
    }

    /// Each seeded order's refunded amount is the sum of the distinct refunds the generator sent
    /// for it that were acknowledged (see ``LoadLedger/refundBounds(order:stored:)``): never more
    /// (a refund counted twice), never less (a refund lost).
    static func refundsCountedOnce(_ ledger: LoadLedger, orders: [String: (status: String, refunded: Int64)],
                                   stored: (String) -> Bool) -> Verification.Check {
        var exact = 0
        var more: [String] = []
        var fewer: [String] = []
        for order in ledger.seededOrders {
            let (lower, upper) = ledger.refundBounds(order: order, stored: stored)
            let refunded = orders[order]?.refunded ?? 0
            if lower == upper { exact += 1 }
            if refunded > upper { more.append("\(order): \(refunded) refunded, \(upper) sent") }
            if refunded < lower { fewer.append("\(order): \(refunded) refunded, \(lower) acknowledged") }
        }
        let refunds = ledger.refunds.values.flatMap(\.refunds)
        let failing = refunds.filter { !$0.failures.isEmpty }.count
        let totals = ledger.refunds.values.map(\.totals.count).reduce(0, +)
        return .init(name: "every refund counted once", passed: more.isEmpty && fewer.isEmpty,
                     detail: "\(refunds.count) refunds sent for \(ledger.refunds.count) orders (\(failing) reported failed, \(totals) refunded totals); "
                        + "\(exact) of \(ledger.seededOrders.count) orders exact; \(more.count) counted more than sent, \(fewer.count) fewer than acknowledged"
                        + (more.isEmpty && fewer.isEmpty ? "" : " (\((more + fewer).prefix(3).joined(separator: "; ")))"))
    }

    /// Every order whose dispute outcome was acknowledged (after its payment) ends in the status
    /// that outcome implies: lost, charged back; won, neither disputed nor charged back. An order
    /// in review is left to a human.
    static func disputeOutcomesKept(_ ledger: LoadLedger, orders: [String: (status: String, refunded: Int64)]) -> Verification.Check {
        var settled = 0
        var won = 0
        var lost: [String] = []
        for (order, dispute) in ledger.disputes.sorted(by: { $0.key < $1.key }) {
            guard let payment = ledger.payments[order], ledger.acknowledged(payment), dispute.outcomeReports.contains(where: ledger.acknowledged) else { continue }
            settled += 1
            if dispute.won { won += 1 }
            let status = OrderStatus(rawValue: orders[order]?.status ?? "")
            guard status != .needsReview else { continue }
            let kept = dispute.won ? ![.disputed, .chargedBack].contains(status) && status.map { !OrderStatus.beforePayment.contains($0) } == true
                : status == .chargedBack
            if !kept { lost.append("\(order): \(dispute.won ? "won" : "lost"), \(orders[order]?.status ?? "no order")") }
        }
        return .init(name: "no dispute outcome lost", passed: lost.isEmpty,
                     detail: "\(ledger.disputes.count) disputes opened; \(settled) settled and acknowledged (\(won) won, \(settled - won) lost); "
                        + "\(lost.count) orders not in the status their outcome implies" + (lost.isEmpty ? "" : " (\(lost.prefix(3).joined(separator: "; ")))"))
    }

    /// Whether `kind` may move an order from `from` to `to`: the transition table before payment;
    /// after it, money back may lead to any status the order's facts imply, never back before
    /// payment (OrderStateMachine, ORDER-LIFECYCLE.md).
    static func isLegal(kind: String, from: String, to: String) -> Bool {
        guard let kind = PaymentEventKind(rawValue: kind), let from = OrderStatus(rawValue: from), let to = OrderStatus(rawValue: to) else { return false }
        let beforePayment = OrderStatus.beforePayment
        switch kind {
        case .other:
            return false
        case .paymentSucceeded:
            // Before payment: paid, or to a human (always after a close); after it: only a second
            // payment, to a human.
            if [.canceled, .expired].contains(from) { return to == .needsReview }
            return beforePayment.contains(from) ? [.paid, .needsReview].contains(to) : to == .needsReview
        case .refundSucceeded, .refundFailed, .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost:
            // Money back applies only after payment, and the status is then derived from the
            // order's facts: any status after payment, never one before it.
            return !beforePayment.contains(from) && !beforePayment.contains(to)
        default:
            guard let rule = OrderStateMachine.transitions[kind] else { return false }
            return rule.from.contains(from) && rule.to == to
        }
    }
}
