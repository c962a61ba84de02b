import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import TollgateOrders
import TollgatePostgres
import TollgateCore

/// Measures the durable webhook write path against a real Postgres: the same events committed
/// one transaction per event (the baseline) and through the group committer, in one run.
/// Figures are machine-dependent; the ratio is the number to compare across runs.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-bench",
        subcommands: [WritePathBenchmark.self, LimiterLatencyBenchmark.self],
        defaultSubcommand: WritePathBenchmark.self
    )
}

struct WritePathBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "write-path")

    @Option(help: "postgres:// URL of a database the role may create tables in (it is migrated).")
    var postgresURL: String = ProcessInfo.processInfo.environment["TOLLGATE_POSTGRES_URL"] ?? "postgres://tollgate@127.0.0.1:54330/tollgate"

    @Option(help: "Events per mode.")
    var events: Int = 5000

    @Option(help: "Concurrent callers (like concurrent callback requests).")
    var concurrency: Int = 64

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        guard let endpoint = PostgresEndpoint(url: postgresURL) else { throw ValidationError("bad --postgres-url") }
        let client = PostgresClient(configuration: endpoint.clientConfiguration(poolSize: 8), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: logger)
            let store = PaymentEventStore(client: client, logger: logger)
            var single = GroupCommitter.Options()
            single.maximumBatchEvents = 1
            single.workers = 8
            var grouped = GroupCommitter.Options()
            grouped.workers = 4
            let baseline = try await measure("one transaction per event", store: store, options: single)
            let batched = try await measure("group commit", store: store, options: grouped)
            print(String(format: "ratio: group commit / baseline = %.1fx", batched / baseline))
        }
    }

    /// Seeds `events` orders, then commits one success per order from `concurrency` callers.
    func measure(_ name: String, store: PaymentEventStore, options: GroupCommitter.Options) async throws -> Double {
        let run = UUID().uuidString.prefix(8).lowercased()
        let orders = (0..<events).map { "bench_\(run)_\($0)" }
        for chunk in stride(from: 0, to: orders.count, by: 1000) {
            try await store.seedOrders(tenant: "bench", orders: orders[chunk..<min(chunk + 1000, orders.count)].map { ($0, 1999, "USD") })
        }
        let committer = GroupCommitter(store: store, options: options)
        let start = ContinuousClock.now
        let applied = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask { await committer.run(); return 0 }
            let count = try await withThrowingTaskGroup(of: Int.self) { callers in
                for caller in 0..<concurrency {
                    callers.addTask {
                        var applied = 0
                        for index in stride(from: caller, to: orders.count, by: concurrency) {
                            let event = PaymentEvent(tenant: "bench", source: "stripe", provider: .stripe, providerEventID: "evt_\(orders[index])",
                                                     kind: .paymentSucceeded, orderID: orders[index], providerPaymentID: "pi_\(orders[index])",
                                                     amountMinor: 1999, currency: "USD",
                                                     rawBody: Array(#"{"id":"evt"}"#.utf8))
                            if case .success(.recorded(.applied)) = try await committer.commit([event])[0] { applied += 1 }
                        }
                        return applied
                    }
                }
                var total = 0
                for try await value in callers { total += value }
                return total
            }
            group.cancelAll()
            return count
        }
        let elapsed = (ContinuousClock.now - start).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        let rate = Double(applied) / seconds
        print(String(format: "%@: %d events applied in %.2f s = %.0f events/s", name, applied, seconds, rate))
        return rate
    }
}
