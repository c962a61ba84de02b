import Foundation
import Testing
import TollgateCheckout
import TollgateOrders
import TollgatePostgres
import TollgateTestSupport

@Suite struct CheckoutOrderStoreTests {
    let support = MigratorTests()

    static let order = CheckoutOrder(playerID: "p1", items: [.init(sku: "gems", quantity: 2, unitAmountMinor: 500)],
                                     currency: "EUR", country: "DE", returnURL: "https://hub.example/done")

    @Test func fiftyConcurrentCreatesWithOneKeyMakeOneOrder() async throws {
        try await support.withFreshDatabase { endpoint in
            try await support.withClient(endpoint) { client in
                try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: support.logger)
                let store = CheckoutOrderStore(client: client, logger: support.logger)
                let results = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
                    for index in 0..<50 {
                        group.addTask {
                            let (order, created) = try await store.create(tenant: "acme", orderID: "ord_try\(index)", order: Self.order, idempotencyKey: "key-1")
                            return (order.orderID, created)
                        }
                    }
                    var all: [(String, Bool)] = []
                    for try await result in group { all.append(result) }
                    return all
                }
                #expect(results.filter(\.1).count == 1)
                #expect(Set(results.map(\.0)).count == 1, "every retry sees the one order")
                let stored = try #require(try await store.find(tenant: "acme", orderID: results[0].0, playerID: "p1"))
                #expect(stored.status == .created && stored.amountMinor == 1000 && stored.currency == "EUR")
                // Another player's view of it: not found. Another key: a second order.
                #expect(try await store.find(tenant: "acme", orderID: results[0].0, playerID: "p2") == nil)
                let (other, created) = try await store.create(tenant: "acme", orderID: "ord_second", order: Self.order, idempotencyKey: "key-2")
                #expect(created && other.orderID == "ord_second")
            }
        }
    }

    @Test func aCallbackThatRacedAheadIsAppliedWhenTheOrderIsCreated() async throws {
        try await support.withFreshDatabase { endpoint in
            try await support.withClient(endpoint) { client in
                try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: support.logger)
                let events = PaymentEventStore(client: client, logger: support.logger)
                let early = PaymentEvent(tenant: "acme", source: "stripe", provider: .stripe, providerEventID: "evt_early", kind: .paymentSucceeded,
                                         orderID: "ord_raced", amountMinor: 1000, currency: "EUR", rawBody: [])
                #expect(try await events.commit([early])[0].get() == .recorded(.pending))
                let (order, _) = try await CheckoutOrderStore(client: client, logger: support.logger)
                    .create(tenant: "acme", orderID: "ord_raced", order: Self.order, idempotencyKey: "k")
                #expect(order.status == .paid)
            }
        }
    }
}
