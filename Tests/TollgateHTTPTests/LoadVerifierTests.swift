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
            let (refund, dispute) = ("o_refund", "o_dispute")
            try await sql("""
                INSERT INTO orders (tenant, order_id, status, amount_minor, currency, refunded_minor) VALUES
                  ('\(tenant)', '\(good)', 'paid', 1999, 'USD', 0), ('\(tenant)', '\(twice)', 'paid', 1999, 'USD', 0),
                  ('\(tenant)', '\(illegal)', 'refunded', 1999, 'USD', 0),
                  ('\(tenant)', '\(refund)', 'partially_refunded', 1999, 'USD', 200), ('\(tenant)', '\(dispute)', 'paid', 1999, 'USD', 0);
                INSERT INTO payment_events (tenant, source, account, provider, provider_event_id, kind, order_id, understood, raw_body, outcome) VALUES
                  ('\(tenant)', 'stripe', 'stripe', 'stripe', 'evt_good', 'payment.succeeded', '\(good)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'stripe', 'evt_forged', 'payment.succeeded', '\(twice)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'stripe', 'evt_again', 'payment.succeeded', '\(twice)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'stripe', 'evt_refund', 'refund.succeeded', '\(illegal)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'stripe', 'evt_paid_r', 'payment.succeeded', '\(refund)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'stripe', 'evt_refund_1', 'refund.succeeded', '\(refund)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'stripe', 'evt_total_1', 'refund.succeeded', '\(refund)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'stripe', 'evt_paid_d', 'payment.succeeded', '\(dispute)', true, '\\x7b7d', 'applied'),
                  ('\(tenant)', 'stripe', 'stripe', 'stripe', 'evt_dispute_lost', 'dispute.lost', NULL, true, '\\x7b7d', 'pending');
                INSERT INTO order_transitions (tenant, order_id, event_id, from_status, to_status, outcome)
                  SELECT tenant, order_id, id, CASE provider_event_id WHEN 'evt_again' THEN 'failed' WHEN 'evt_refund' THEN 'pending_payment' ELSE 'pending_payment' END,
                         CASE kind WHEN 'refund.succeeded' THEN 'refunded' ELSE 'paid' END, 'applied'
                  FROM payment_events WHERE tenant = '\(tenant)' AND provider_event_id IN ('evt_good', 'evt_forged', 'evt_again', 'evt_refund') ORDER BY id;
                """)
            var ledger = LoadLedger()
            ledger.seededOrders = [good, twice, illegal, refund, dispute]
            ledger.genuine = ["stripe|evt_good": true, "stripe|evt_again": true, "stripe|evt_refund": true, "stripe|evt_lost": true,
                              "stripe|evt_paid_r": true, "stripe|evt_refund_1": true, "stripe|evt_total_1": true,
                              "stripe|evt_paid_d": true, "stripe|evt_dispute_lost": true]
            ledger.forged = ["stripe|evt_forged"]
            // One refund of 1.00, reported by its id and inside a total of 1.00: counted twice, 2.00 refunded.
            ledger.payments = [refund: "stripe|evt_paid_r", dispute: "stripe|evt_paid_d"]
            ledger.refunds[refund] = LoadLedger.OrderRefunds(
                refunds: [LoadLedger.Refund(id: "re_1", amountMinor: 100, reports: ["stripe|evt_refund_1"])],
                totals: [LoadLedger.RefundTotal(key: "stripe|evt_total_1", totalMinor: 100, covers: ["re_1"])])
            // A lost dispute, acknowledged (stored, never linked to its order), and the order still paid.
            ledger.disputes[dispute] = LoadLedger.Dispute(won: false, outcomeReports: ["stripe|evt_dispute_lost"], reports: ["stripe|evt_dispute_lost"])
            let verification = try await LoadVerifier(client: client, tenant: tenant, logger: logger).verify(ledger)
            let failed = Set(verification.checks.filter { !$0.passed }.map(\.name))
            #expect(failed == [
                "acknowledged events stored exactly once",          // evt_lost was acknowledged and is not there
                "no forged or stale event stored",                  // evt_forged is
                "no event stored that was not genuinely sent",      // and was never sent genuinely
                "no illegal transition",                            // refund from pending_payment; paid then "from failed"
                "no order paid twice",                              // o_twice
                "every refund counted once",                        // o_refund: 2.00 refunded, 1.00 sent
                "no dispute outcome lost",                          // o_dispute: lost, still paid
            ], "\(verification.lines.joined(separator: "\n"))")
            let stored = verification.checks.first { $0.name == "acknowledged events stored exactly once" }?.detail ?? ""
            #expect(stored.contains("; 1 missing"), "only evt_lost: an event no order is linked to yet is found by its identity (\(stored))")
            #expect(!verification.passed)
        }
    }
}
