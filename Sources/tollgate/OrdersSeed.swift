import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import TollgatePostgres
import TollgateCore

struct Orders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with orders (development and tests).",
        subcommands: [Seed.self, Lifecycle.self]
    )

    /// Until the checkout path creates orders, tests and load tests seed them here.
    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Insert orders in pending_payment (dev/test only); prints their ids, one a line."
        )

        @OptionGroup var options: ConfigOptions

        @Option(help: "Tenant the orders belong to.")
        var tenant: String

        @Option(help: "How many orders.")
        var count: Int = 1

        @Option(help: "Amount of each order in minor units.")
        var amountMinor: Int64 = 1999

        @Option(help: "ISO 4217 currency.")
        var currency: String = "USD"

        @Option(help: "Order id prefix; ids are PREFIX + a random suffix.")
        var prefix: String = "ord_"

        func validate() throws {
            guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be 1...1000000") }
            guard amountMinor > 0 else { throw ValidationError("--amount-minor must be positive") }
            guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isLetter }) else { throw ValidationError("--currency must be a 3-letter code") }
        }

        func run() async throws {
            let loaded = try Bootstrap.loadConfiguration(path: options.config)
            let logger = Bootstrap.logger(for: loaded.configuration)
            let client = try Bootstrap.postgresClient(loaded.configuration, poolSize: 1, logger: logger)
            // Callbacks that arrived before their order apply when it is seeded: their
            // transitions tell the game backend like any other.
            let fulfilment = try Bootstrap.loadTenants(loaded.configuration).catalog.gameBackends.mapValues(\.events)
            let ids = (0..<count).map { _ in prefix + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                let store = PaymentEventStore(client: client, logger: logger, fulfilment: fulfilment)
                for chunk in stride(from: 0, to: ids.count, by: 1000) {
                    let slice = ids[chunk..<min(chunk + 1000, ids.count)]
                    try await store.seedOrders(tenant: tenant, orders: slice.map { ($0, amountMinor, currency.uppercased()) })
                }
            }
            print(ids.joined(separator: "\n"))
        }
    }
}
