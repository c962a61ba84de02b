import Foundation
import Logging
import PostgresNIO
import Testing
import TollgateLoad
import TollgatePostgres
import TollgateTestSupport
import TollgateCore

/// The verifier must catch what it is there to catch: each violation is planted in a real
/// Postgres and must fail its check (and only its check).
@Suite struct LoadVerifierTests {
    func sql(_ query: String) async throws {
        let result = try await ChildProcess.run("/usr/bin/psql", [TestEnvironment.postgresURL, "-q", "-v", "ON_ERROR_STOP=1", "-c", query])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func plantedViolationsFailTheirChecks() async throws {
        var logger = Logger(label: "test.verifier")
        logger.logLevel = .warning
        let client = PostgresClient(configuration: PostgresEndpoint(url: TestEnvironment.postgresURL)!.clientConfiguration(poolSize: 2), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            _ = try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: logger)
            let tenant = "verify-\(UUID().uuidString.prefix(8).lowercased())"
            let (good, twice, illegal) = ("o_good", "o_twice", "o_illegal")
            try await sql("""
                INSERT INTO orders (tenant, order_id, status, amount_minor, currency) VALUES
                  ('\(tenant)', '\(good)', 'paid', 1999, 'USD'), ('\(tenant)', '\(twice)', 'paid', 1999, 'USD'),
                  ('\(tenant)', '\(illegal)', 'refunded', 1999, 'USD');
                INSERT INTO payment_events (tenant, source, provider, provider_event_id, kind, order_id, understood, raw_body, outcome) VALUES
                  ('\(tenant)', 'stripe', 'stripe', 'evt_good', 'payment.succeeded', '\(good)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'evt_forged', 'payment.succeeded', '\(twice)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'evt_again', 'payment.succeeded', '\(twice)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'evt_refund', 'refund.succeeded', '\(illegal)', true, '\\x7b7d', 'applied');
                INSERT INTO order_transitions (tenant, order_id, event_id, from_status, to_status, outcome)
                  SELECT tenant, order_id, id, CASE provider_event_id WHEN 'evt_again' THEN 'failed' WHEN 'evt_refund' THEN 'pending_payment' ELSE 'pending_payment' END,
                         CASE kind WHEN 'refund.succeeded' THEN 'refunded' ELSE 'paid' END, 'applied'
                  FROM payment_events WHERE tenant = '\(tenant)' ORDER BY id;
                """)
            var ledger = LoadLedger()
            ledger.seededOrders = [good, twice, illegal]
            ledger.genuine = ["stripe|evt_good": true, "stripe|evt_again": true, "stripe|evt_refund": true, "stripe|evt_lost": true]
            ledger.forged = ["stripe|evt_forged"]
            let verification = try await LoadVerifier(client: client, tenant: tenant, logger: logger).verify(ledger)
            let failed = Set(verification.checks.filter { !$0.passed }.map(\.name))
            #expect(failed == [
                "acknowledged events stored exactly once",          // evt_lost was acknowledged and is not there
                "no forged or stale event stored",                  // evt_forged is
                "no event stored that was not genuinely sent",      // and was never sent genuinely
                "no illegal transition",                            // refund from pending_payment; paid then "from failed"
                "no order paid twice",                              // o_twice
            ], "\(verification.lines.joined(separator: "\n"))")
            #expect(!verification.passed)
        }
    }
}
