import Foundation
import Logging
import PostgresNIO
import Testing
import TollgateCore
import TollgateHTTP
import TollgateOrders
import TollgatePostgres
import TollgateTelemetry
import TollgateTestSupport

/// The metrics the alert rules in ops/prometheus read that are not plain counters of requests:
/// the database gauges (a real Postgres), the certificate's expiry (real certificate files), and
/// commit failures (a group committer whose Postgres does not answer). Values are read as
/// `/metrics` renders them, the way Prometheus sees them.
@Suite(.serialized) struct OperationalGaugesTests {
    let logger: Logger = {
        var logger = Logger(label: "test.operational-gauges")
        logger.logLevel = .warning
        return logger
    }()

    @Test func waitingEventsAndTheReviewQueueAreReadFromPostgresAndClearedWhenSettled() async throws {
        Self.bootstrapMetrics()
        let client = PostgresClient(configuration: PostgresEndpoint(url: TestEnvironment.postgresURL)!.clientConfiguration(poolSize: 2), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            _ = try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: logger)
            // A tenant of its own: other suites leave waiting events and orders in review in this database.
            let tenant = "gauges-\(UUID().uuidString.prefix(8).lowercased())"
            func event(_ id: String, outcome: String, secondsAgo: Int) async throws {
                try await client.query("""
                    INSERT INTO payment_events (tenant, source, account, provider, provider_event_id, kind, understood, raw_body, outcome, received_at)
                    VALUES (\(tenant), 'stripe', 'stripe', 'stripe', \(id), 'refund.succeeded', true, '\\x7b7d'::bytea, \(outcome),
                            now() - make_interval(secs => \(Double(secondsAgo))))
                    """, logger: logger)
            }
            func order(_ id: String, status: String) async throws {
                try await client.query("""
                    INSERT INTO orders (tenant, order_id, status, amount_minor, currency) VALUES (\(tenant), \(id), \(status), 1999, 'USD')
                    """, logger: logger)
            }
            try await event("evt_pending_old", outcome: "pending", secondsAgo: 7200)
            try await event("evt_pending_new", outcome: "pending", secondsAgo: 0)
            try await event("evt_deferred", outcome: "deferred", secondsAgo: 90)
            try await event("evt_applied_older", outcome: "applied", secondsAgo: 36000)  // applied: not waiting, however old
            try await order("ord_review_1", status: "needs_review")
            try await order("ord_review_2", status: "needs_review")
            try await order("ord_paid", status: "paid")

            // The service refreshes on its own: run it with a short interval until the values show.
            let gauges = OperationalGauges(client: client, interval: .milliseconds(100), logger: logger)
            let service = Task { try await gauges.run() }
            try await TestEnvironment.waitUntil {
                Self.value("tollgate_orders_awaiting_review", ["tenant": tenant]) == 2
            }
            service.cancel()

            let pending = ["tenant": tenant, "outcome": "pending"], deferred = ["tenant": tenant, "outcome": "deferred"]
            #expect(Self.value("tollgate_payment_events_waiting", pending) == 2)
            #expect(Self.value("tollgate_payment_events_waiting", deferred) == 1)
            #expect(Self.value("tollgate_payment_events_waiting", ["tenant": tenant, "outcome": "applied"]) == nil)
            // Ages on Postgres's clock: at least what was planted, plus the seconds the test has run.
            let pendingAge = try #require(Self.value("tollgate_payment_events_oldest_waiting_age_seconds", pending))
            #expect(pendingAge >= 7200 && pendingAge < 7260, "\(pendingAge)")
            let deferredAge = try #require(Self.value("tollgate_payment_events_oldest_waiting_age_seconds", deferred))
            #expect(deferredAge >= 90 && deferredAge < 150, "\(deferredAge)")
            let refreshed = try #require(Self.value("tollgate_operational_gauges_last_success_timestamp_seconds", [:]))
            #expect(abs(refreshed - Date().timeIntervalSince1970) < 60)

            // Settled: every waiting event applied, every order out of review. The labels stay on
            // /metrics at 0 rather than keeping their last values (and an alert) alive.
            try await client.query("UPDATE payment_events SET outcome = 'applied' WHERE tenant = \(tenant)", logger: logger)
            try await client.query("UPDATE orders SET status = 'refunded' WHERE tenant = \(tenant)", logger: logger)
            let snapshot = try await gauges.refresh()
            #expect(snapshot.ordersAwaitingReview[tenant] == nil)
            #expect(snapshot.waitingEvents[OperationalGauges.Snapshot.WaitingKey(tenant: tenant, outcome: "pending")] == nil)
            #expect(Self.value("tollgate_orders_awaiting_review", ["tenant": tenant]) == 0)
            #expect(Self.value("tollgate_payment_events_waiting", pending) == 0)
            #expect(Self.value("tollgate_payment_events_oldest_waiting_age_seconds", pending) == 0)
            #expect(Self.value("tollgate_payment_events_waiting", deferred) == 0)

            try await client.query("DELETE FROM payment_events WHERE tenant = \(tenant)", logger: logger)
            try await client.query("DELETE FROM orders WHERE tenant = \(tenant)", logger: logger)
        }
    }

    @Test func certificateExpiryIsPublishedAtLoadAndOnEachReloadThatSucceeds() async throws {
        Self.bootstrapMetrics()
        let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-cert-expiry")
        defer { try? FileManager.default.removeItem(at: directory) }
        let chain = directory.appendingPathComponent("chain.pem").path, key = directory.appendingPathComponent("key.pem").path
        func makeCertificate(days: Int) async throws {
            let result = try await ChildProcess.run("/usr/bin/openssl", [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "\(days)", "-subj", "/CN=localhost", "-keyout", key, "-out", chain,
            ])
            try #require(result.status == 0, "\(result.output)")
        }
        /// Seconds between the gauge and `days` from now; openssl starts validity at the moment it signs.
        func gaugeDistance(fromDays days: Int) throws -> Double {
            let notAfter = try #require(Self.value("tollgate_tls_certificate_not_after_seconds", [:]))
            return abs(notAfter - (Date().timeIntervalSince1970 + Double(days) * 86400))
        }

        try await makeCertificate(days: 10)
        let store = try CertificateStore(chainPath: chain, keyPath: key)
        #expect(try gaugeDistance(fromDays: 10) < 120)

        try await makeCertificate(days: 400)
        try store.reload()
        #expect(try gaugeDistance(fromDays: 400) < 120)

        // A reload that fails keeps the pair in force, and so the gauge: the alert keeps telling the truth.
        try "not a certificate".write(toFile: chain, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try store.reload() }
        #expect(try gaugeDistance(fromDays: 400) < 120)
    }

    @Test func aCommitPastItsDeadlineCountsEachOfItsEventsAsTimedOut() async throws {
        Self.bootstrapMetrics()
        // A Postgres that refuses connections: the pool keeps trying, the commit never starts.
        let port = try TestEnvironment.freePort()
        let client = PostgresClient(
            configuration: PostgresEndpoint(url: "postgres://tollgate@127.0.0.1:\(port)/tollgate")!.clientConfiguration(poolSize: 1, connectTimeout: .milliseconds(200)),
            backgroundLogger: logger)
        var options = GroupCommitter.Options()
        options.commitTimeout = .milliseconds(300)
        let committer = GroupCommitter(store: PaymentEventStore(client: client, logger: logger), options: options)
        let timedOut = ["reason": "timed_out"]
        let before = Self.value("tollgate_commit_failed_events_total", timedOut) ?? 0
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask { await committer.run() }
            defer { group.cancelAll() }
            let events = (1...3).map {
                PaymentEvent(tenant: "gauges", source: "stripe", provider: .stripe, providerEventID: "evt_\($0)", kind: .paymentSucceeded,
                             orderID: "ord_\($0)", rawBody: [])
            }
            await #expect(throws: GroupCommitterError.timedOut) { try await committer.commit(events) }
        }
        #expect(Self.value("tollgate_commit_failed_events_total", timedOut) == before + 3)
    }

    /// Metrics made before the bootstrap go nowhere, so each test bootstraps before the code under test runs.
    static func bootstrapMetrics() { _ = Telemetry.bootstrapMetrics() }

    /// The sample of `name` whose labels are exactly `labels`, as `/metrics` renders it; nil if none.
    static func value(_ name: String, _ labels: [String: String]) -> Double? {
        var buffer: [UInt8] = []
        Telemetry.bootstrapMetrics().emit(into: &buffer)
        for line in String(decoding: buffer, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let (seriesName, seriesLabels): (Substring, [String: String]) = if let brace = series.firstIndex(of: "{") {
                (series[..<brace], parseLabels(series[series.index(after: brace)..<series.index(before: series.endIndex)]))
            } else {
                (series, [:])
            }
            if seriesName == name, seriesLabels == labels { return Double(line[line.index(after: space)...]) }
        }
        return nil
    }

    /// `a="x",b="y"` (the values in these tests hold no quotes or commas).
    static func parseLabels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
        }
        return labels
    }
}
