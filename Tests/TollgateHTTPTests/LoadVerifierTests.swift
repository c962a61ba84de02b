import Foundation
import Logging
import PostgresNIO
import Testing
import TollgateCatalog
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

    /// A run's checkout orders priced right pass the catalog checks; each tampering with Postgres
    /// afterwards (an order's amount, a line's unit price, a crafted order under the run's key)
    /// fails its check and only its check.
    @Test func tamperedCheckoutOrdersFailTheCatalogChecks() async throws {
        var logger = Logger(label: "test.verifier")
        logger.logLevel = .warning
        let client = PostgresClient(configuration: PostgresEndpoint(url: TestEnvironment.postgresURL)!.clientConfiguration(poolSize: 2), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            _ = try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: logger)
            let tenant = "verify-\(UUID().uuidString.prefix(8).lowercased())"
            let catalog = ProductCatalog(tenant: tenant, items: [
                "gems_100": CatalogItem(sku: "gems_100", title: "100 Gems", prices: ["USD": 99]),
                "gems_500": CatalogItem(sku: "gems_500", title: "500 Gems", prices: ["USD": 499], countryPrices: ["DE": ["EUR": 469]], maximumQuantity: 10),
            ], contentHash: "c0ffee", file: "catalog/\(tenant).yaml")
            // o_a and o_de sold under the catalog in force, o_old under an earlier file (same prices).
            try await sql("""
                INSERT INTO orders (tenant, order_id, status, amount_minor, currency, country, player_id, idempotency_key) VALUES
                  ('\(tenant)', 'o_a', 'pending_payment', 1097, 'USD', NULL, 'p1', 'k_a'),
                  ('\(tenant)', 'o_de', 'pending_payment', 938, 'EUR', 'DE', 'p2', 'k_de'),
                  ('\(tenant)', 'o_old', 'pending_payment', 499, 'USD', NULL, 'p3', 'k_old');
                INSERT INTO order_lines (tenant, order_id, line, sku, title, quantity, unit_amount_minor, amount_minor, catalog_hash) VALUES
                  ('\(tenant)', 'o_a', 0, 'gems_500', '500 Gems', 2, 499, 998, 'c0ffee'),
                  ('\(tenant)', 'o_a', 1, 'gems_100', '100 Gems', 1, 99, 99, 'c0ffee'),
                  ('\(tenant)', 'o_de', 0, 'gems_500', '500 Gems', 2, 469, 938, 'c0ffee'),
                  ('\(tenant)', 'o_old', 0, 'gems_500', '500 Gems', 1, 499, 499, '0ld');
                """)
            var ledger = LoadLedger()
            ledger.checkoutKeys = ["k_a": ["o_a"], "k_de": ["o_de"], "k_old": ["o_old"], "k_lost": []]
            ledger.checkoutRequests = [
                "k_a": .init(lines: [.init(sku: "gems_500", quantity: 2, shownUnitAmountMinor: 499), .init(sku: "gems_100", quantity: 1, shownUnitAmountMinor: 99)], totalMinor: 1097),
                "k_de": .init(lines: [.init(sku: "gems_500", quantity: 2, shownUnitAmountMinor: 469)], totalMinor: 938),
                "k_old": .init(lines: [.init(sku: "gems_500", quantity: 1, shownUnitAmountMinor: 499)], totalMinor: 499),
                // Its answer never came: an order under its key is the run's all the same.
                "k_lost": .init(lines: [.init(sku: "gems_100", quantity: 1, shownUnitAmountMinor: 99)], totalMinor: 99),
            ]
            let verifier = LoadVerifier(client: client, tenant: tenant, logger: logger, catalog: catalog)
            func failed(_ ledger: LoadLedger) async throws -> (Set<String>, Verification) {
                let verification = try await verifier.verify(ledger)
                return (Set(verification.checks.filter { !$0.passed }.map(\.name)), verification)
            }

            let (clean, verification) = try await failed(ledger)
            #expect(clean.isEmpty, "\(verification.lines.joined(separator: "\n"))")
            let priced = try #require(verification.checks.first { $0.name == "every checkout order is priced from the catalog" })
            #expect(priced.detail.contains("3 lines sold under it, 0 lines not at its price")
                    && priced.detail.contains("1 lines sold under 1 other catalog files"), "\(priced.detail)")

            try await sql("UPDATE orders SET amount_minor = 999 WHERE tenant = '\(tenant)' AND order_id = 'o_a'")
            var (failures, report) = try await failed(ledger)
            #expect(failures == ["every checkout order's amount is the sum of its lines"], "\(report.lines.joined(separator: "\n"))")
            #expect(report.checks.first { $0.name == "every checkout order's amount is the sum of its lines" }?.detail.contains("o_a: amount 999, lines 1097") == true)
            try await sql("UPDATE orders SET amount_minor = 1097 WHERE tenant = '\(tenant)' AND order_id = 'o_a'")

            // A unit price that is not the catalog's, the line's and the order's amounts made to agree.
            try await sql("""
                UPDATE order_lines SET unit_amount_minor = 449, amount_minor = 898 WHERE tenant = '\(tenant)' AND order_id = 'o_a' AND line = 0;
                UPDATE orders SET amount_minor = 997 WHERE tenant = '\(tenant)' AND order_id = 'o_a';
                """)
            (failures, report) = try await failed(ledger)
            #expect(failures == ["every checkout order is priced from the catalog"], "\(report.lines.joined(separator: "\n"))")
            #expect(report.checks.first { $0.name == "every checkout order is priced from the catalog" }?.detail.contains("o_a gems_500: 449 USD, the catalog says 499") == true)
            try await sql("""
                UPDATE order_lines SET unit_amount_minor = 499, amount_minor = 998 WHERE tenant = '\(tenant)' AND order_id = 'o_a' AND line = 0;
                UPDATE orders SET amount_minor = 1097 WHERE tenant = '\(tenant)' AND order_id = 'o_a';
                """)

            // The German price charged to a player from elsewhere: the country decides the price.
            try await sql("UPDATE orders SET country = 'AT' WHERE tenant = '\(tenant)' AND order_id = 'o_de'")
            (failures, report) = try await failed(ledger)
            #expect(failures == ["every checkout order is priced from the catalog"], "\(report.lines.joined(separator: "\n"))")
            try await sql("UPDATE orders SET country = 'DE' WHERE tenant = '\(tenant)' AND order_id = 'o_de'")

            // A crafted order under the run's key: first without lines, then with a line at a price of its own.
            try await sql("""
                INSERT INTO orders (tenant, order_id, status, amount_minor, currency, player_id, idempotency_key)
                VALUES ('\(tenant)', 'o_crafted', 'pending_payment', 1, 'USD', 'p4', 'k_lost')
                """)
            (failures, report) = try await failed(ledger)
            #expect(failures == ["every checkout order holds the items it was asked for"], "\(report.lines.joined(separator: "\n"))")
            try await sql("""
                INSERT INTO order_lines (tenant, order_id, line, sku, title, quantity, unit_amount_minor, amount_minor, catalog_hash)
                VALUES ('\(tenant)', 'o_crafted', 0, 'gems_100', '100 Gems', 1, 1, 1, 'c0ffee')
                """)
            (failures, report) = try await failed(ledger)
            #expect(failures == ["every checkout order is priced from the catalog"], "\(report.lines.joined(separator: "\n"))")
            try await sql("DELETE FROM order_lines WHERE tenant = '\(tenant)' AND order_id = 'o_crafted'; DELETE FROM orders WHERE tenant = '\(tenant)' AND order_id = 'o_crafted'")

            // An order the edge answered with that Postgres does not have.
            var answeredLost = ledger
            answeredLost.checkoutKeys["k_lost"] = ["o_gone"]
            (failures, report) = try await failed(answeredLost)
            #expect(failures == ["every checkout order holds the items it was asked for"], "\(report.lines.joined(separator: "\n"))")

            // A refusal the catalog cannot explain (it did not change): the edge priced from another file.
            var refused = ledger
            refused.checkoutProblems = ["price-changed": 2, "too-many-requests": 9]
            (failures, report) = try await failed(refused)
            #expect(failures == ["no checkout refused for its prices or items"], "\(report.lines.joined(separator: "\n"))")
            #expect(try await failed(ledger).0.isEmpty, "back to clean")
        }
    }
}
