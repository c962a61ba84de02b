import Foundation
import PostgresNIO
import Testing
import TollgateCatalog
import TollgateCheckout
import TollgateOrders
import TollgatePostgres
import TollgateTestSupport

@Suite struct CheckoutOrderStoreTests {
    let support = MigratorTests()

    static func priced(_ lines: [PricedLine], currency: String = "EUR") -> PricedOrder {
        PricedOrder(lines: lines, currency: currency, totalMinor: lines.map(\.amountMinor).reduce(0, +), catalogHash: "sha-of-acme-yaml")
    }

    static let gems = PricedLine(sku: "gems", title: "Gems", quantity: 2, unitAmountMinor: 500, amountMinor: 1000)

    static func order(player: String = "p1", key: String = "key-1", fingerprint: String = "f1", lines: [PricedLine] = [gems]) -> CheckoutOrderStore.NewOrder {
        .init(playerID: player, country: "DE", returnURL: "https://hub.example/done", priced: priced(lines), idempotencyKey: key, fingerprint: fingerprint)
    }

    func withStore(_ body: @escaping @Sendable (CheckoutOrderStore, PostgresClient) async throws -> Void) async throws {
        try await support.withFreshDatabase { endpoint in
            try await support.withClient(endpoint) { client in
                try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: support.logger)
                try await body(CheckoutOrderStore(client: client, logger: support.logger), client)
            }
        }
    }

    @Test func fiftyConcurrentCreatesWithOneKeyMakeOneOrderWithItsLines() async throws {
        try await withStore { store, client in
            let results = try await withThrowingTaskGroup(of: CheckoutOrderStore.CreateOutcome.self) { group in
                for index in 0..<50 {
                    group.addTask { try await store.create(tenant: "acme", orderID: "ord_try\(index)", order: Self.order()) }
                }
                var all: [CheckoutOrderStore.CreateOutcome] = []
                for try await result in group { all.append(result) }
                return all
            }
            let created = results.compactMap { if case .created(let order) = $0 { order } else { nil } }
            let existing = results.compactMap { if case .existing(let order) = $0 { order } else { nil } }
            #expect(created.count == 1 && existing.count == 49)
            #expect(Set(existing.map(\.orderID)) == [created[0].orderID], "every retry sees the one order")
            let stored = try #require(try await store.find(tenant: "acme", orderID: created[0].orderID, playerID: "p1"))
            #expect(stored.status == .created && stored.amountMinor == 1000 && stored.currency == "EUR")
            #expect(stored.lines == [.init(sku: "gems", title: "Gems", quantity: 2, unitAmountMinor: 500, amountMinor: 1000)])
            let hashes = try await client.query("SELECT catalog_hash FROM order_lines WHERE order_id = \(created[0].orderID)")
            for try await hash in hashes.decode(String.self) { #expect(hash == "sha-of-acme-yaml") }
            // Another player's view of it: not found. Another key: a second order.
            #expect(try await store.find(tenant: "acme", orderID: created[0].orderID, playerID: "p2") == nil)
            guard case .created(let other) = try await store.create(tenant: "acme", orderID: "ord_second", order: Self.order(key: "key-2")) else {
                Issue.record("another key makes another order"); return
            }
            #expect(other.orderID == "ord_second")
        }
    }

    @Test func theFingerprintIsTheTruthWhenRedisForgot() async throws {
        try await withStore { store, _ in
            _ = try await store.create(tenant: "acme", orderID: "ord_first", order: Self.order(fingerprint: "f1"))
            #expect(try await store.create(tenant: "acme", orderID: "ord_other", order: Self.order(fingerprint: "f2")) == .keyReused)
            guard case .existing(let same) = try await store.create(tenant: "acme", orderID: "ord_again", order: Self.order(fingerprint: "f1")) else {
                Issue.record("the same request finds its order"); return
            }
            #expect(same.orderID == "ord_first")
            #expect(try await store.find(tenant: "acme", playerID: "p1", idempotencyKey: "key-1")?.fingerprint == "f1")
        }
    }

    @Test func aPurchaseLimitHoldsUnderFiftyConcurrentCheckoutsOfOnePlayer() async throws {
        try await withStore { store, client in
            let offer = PricedLine(sku: "starter_pack", title: "Starter", quantity: 1, unitAmountMinor: 299, amountMinor: 299, purchaseLimit: 2)
            let results = try await withThrowingTaskGroup(of: CheckoutOrderStore.CreateOutcome.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await store.create(tenant: "acme", orderID: "ord_offer\(index)", order: Self.order(key: "key-\(index)", lines: [offer, Self.gems]))
                    }
                }
                var all: [CheckoutOrderStore.CreateOutcome] = []
                for try await result in group { all.append(result) }
                return all
            }
            let created = results.filter { if case .created = $0 { true } else { false } }
            let refused = results.filter { if case .purchaseLimitReached("starter_pack", 2, 2) = $0 { true } else { false } }
            #expect(created.count == 2 && refused.count == 48, "\(results.filter { if case .created = $0 { false } else { true } }.prefix(3))")
            // Another player is not limited by this one; an order that failed gives its items back.
            guard case .created = try await store.create(tenant: "acme", orderID: "ord_p2", order: Self.order(player: "p2", lines: [offer])) else {
                Issue.record("another player's limit is their own"); return
            }
            // A failed payment can still be paid with another card: a recent failed order still holds.
            try await client.query("UPDATE orders SET status = 'failed' WHERE tenant = 'acme' AND player_id = 'p1' AND order_id LIKE 'ord_offer%'")
            #expect(try await store.create(tenant: "acme", orderID: "ord_failed", order: Self.order(key: "key-failed", lines: [offer]))
                    == .purchaseLimitReached(sku: "starter_pack", limit: 2, held: 2))
            // Unpaid past the hold, or canceled: the items are free again. Paid: held for good.
            try await client.query("UPDATE orders SET created_at = now() - interval '2 hours' WHERE tenant = 'acme' AND player_id = 'p1' AND order_id LIKE 'ord_offer%'")
            guard case .created = try await store.create(tenant: "acme", orderID: "ord_after", order: Self.order(key: "key-after", lines: [offer])) else {
                Issue.record("unpaid orders past the hold do not count"); return
            }
            try await client.query("UPDATE orders SET status = 'paid', created_at = now() - interval '30 days' WHERE order_id = 'ord_after'")
            try await client.query("UPDATE orders SET status = 'canceled' WHERE tenant = 'acme' AND player_id = 'p1' AND order_id LIKE 'ord_offer%'")
            guard case .created = try await store.create(tenant: "acme", orderID: "ord_second", order: Self.order(key: "key-second", lines: [offer])) else {
                Issue.record("one paid (1) + one new (1) is within 2"); return
            }
            #expect(try await store.create(tenant: "acme", orderID: "ord_third", order: Self.order(key: "key-third", lines: [offer]))
                    == .purchaseLimitReached(sku: "starter_pack", limit: 2, held: 2))
            // More than the limit in one order is refused even for a new player.
            let greedy = PricedLine(sku: "starter_pack", title: "Starter", quantity: 3, unitAmountMinor: 299, amountMinor: 897, purchaseLimit: 2)
            #expect(try await store.create(tenant: "acme", orderID: "ord_greedy", order: Self.order(player: "p3", lines: [greedy]))
                    == .purchaseLimitReached(sku: "starter_pack", limit: 2, held: 0))
        }
    }

    @Test func aCallbackThatRacedAheadIsAppliedWhenTheOrderIsCreated() async throws {
        try await withStore { store, client in
            let events = PaymentEventStore(client: client, logger: support.logger)
            let early = PaymentEvent(tenant: "acme", source: "stripe", provider: .stripe, providerEventID: "evt_early", kind: .paymentSucceeded,
                                     orderID: "ord_raced", amountMinor: 1000, currency: "EUR", rawBody: [])
            #expect(try await events.commit([early])[0].get() == .recorded(.pending))
            guard case .created(let order) = try await store.create(tenant: "acme", orderID: "ord_raced", order: Self.order(key: "k")) else {
                Issue.record("created"); return
            }
            #expect(order.status == .paid)
        }
    }
}
