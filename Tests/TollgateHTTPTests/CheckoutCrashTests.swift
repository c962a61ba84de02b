import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Testing
import TollgateCheckout
import TollgateProviderSim
import TollgateTestSupport

/// The real binary killed with SIGKILL between claiming an Idempotency-Key and answering: the claim
/// is a lease of seconds, so the client's retry gets its answer within seconds (the order the first
/// attempt made, with its one payment), not `409` until the answer's 24-hour TTL runs out.
@Suite(.serialized) struct CheckoutCrashTests {
    static let tenant = "crashshop"
    static let tokenKey = "crash-test-player-token-key-0123456789abcd"

    @Test func aRetryAfterTheEdgeWasKilledMidRequestIsAnsweredWithinSeconds() async throws {
        let certificates = try await TestCertificates.make()
        var configuration = ProviderSimulator.Configuration()
        configuration.port = 0
        configuration.webhookSecret = "whsec_crash_test"
        // The provider holds the first create for 3 s: the edge is killed while it waits.
        configuration.defaultBehaviour = .delay(.seconds(3))
        var logger = Logger(label: "test.sim")
        logger.logLevel = .warning
        let simulator = ProviderSimulator(configuration: configuration, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await simulator.run() }
            defer { group.cancelAll() }
            try await TestEnvironment.waitUntil { simulator.boundPort.withLockedValue { $0 } != nil }
            let simPort = simulator.boundPort.withLockedValue { $0 }!

            let tenants = try TestEnvironment.makeTemporaryDirectory("tollgate-crash-tenants")
            try """
                tenant: \(Self.tenant)
                development: true
                sources:
                  stripe:
                    provider: stripe
                    secrets: [whsec_crash_test]
                checkout:
                  origins: [https://hub.crash.example]
                  player_tokens:
                    - { kid: k1, hs256: \(Self.tokenKey) }
                  payments:
                    provider: stripe
                    base_url: http://127.0.0.1:\(simPort)
                    secret_key: sk_test_crash
                    webhook_source: stripe
                    timeout: 10s
                """.write(to: tenants.appendingPathComponent("\(Self.tenant).yaml"), atomically: true, encoding: .utf8)
            let products = try TestEnvironment.makeTemporaryDirectory("tollgate-crash-catalog")
            try "items:\n  - sku: gems_500\n    title: 500 Gems\n    prices: { EUR: 499 }\n"
                .write(to: products.appendingPathComponent("\(Self.tenant).yaml"), atomically: true, encoding: .utf8)

            // No rate limits: this test retries as fast as a client would.
            let rules = try TestEnvironment.makeTemporaryDirectory("tollgate-crash-rules")
            let serve = ServeProcessTests()
            let first = try await serve.startServe(certificates: certificates, tenantsDirectory: tenants.path, catalogDirectory: products.path, rulesDirectory: rules.path, migrate: true)
            let player = "p_" + UUID().uuidString.prefix(8).lowercased(), key = "key-" + UUID().uuidString
            let token = try await PlayerTokenMinter.hs256(secret: Self.tokenKey, kid: "k1", tenant: Self.tenant, player: player, expires: Date().addingTimeInterval(600))
            let body = #"{"player_id":"\#(player)","items":[{"sku":"gems_500","quantity":1}],"currency":"EUR","return_url":"https://hub.crash.example/done"}"#
            let headers = [("Content-Type", "application/json"), ("Authorization", "Bearer \(token)"), ("Idempotency-Key", key)]
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let lost = Task { try? await client.fetch(first.edge + "/v1/checkout/\(Self.tenant)/orders", method: .POST, headers: headers, body: .bytes(ByteBuffer(string: body))) }
                // The claim is made and the order written once the provider has the create. (The
                // edge migrates at start: this suite may run first on a fresh database.)
                do {
                    try await TestEnvironment.waitUntil(timeout: .seconds(15)) { simulator.statistics.requests >= 1 }
                } catch {
                    Issue.record("the provider never got the create; edge output: \(first.child.outputText.suffix(3000))")
                    throw error
                }
                first.child.signal(SIGKILL)
                _ = try await first.child.waitForExit(timeout: .seconds(10))
                _ = await lost.value
                let killedAt = ContinuousClock.now

                let second = try await serve.startServe(certificates: certificates, tenantsDirectory: tenants.path, catalogDirectory: products.path, rulesDirectory: rules.path, migrate: true)
                var statuses: [UInt] = []
                var answer = ""
                while ContinuousClock.now - killedAt < .seconds(30) {
                    let (response, text) = try await client.fetch(second.edge + "/v1/checkout/\(Self.tenant)/orders", method: .POST, headers: headers,
                                                                  body: .bytes(ByteBuffer(string: body)))
                    statuses.append(response.status.code)
                    if response.status.code != 409 { answer = text; break }
                    #expect(response.headers.first(name: "Retry-After") == "1")
                    try await Task.sleep(for: .milliseconds(500))
                }
                let waited = ContinuousClock.now - killedAt
                #expect(statuses.last == 201, "statuses \(statuses): \(answer)")
                #expect(waited < .seconds(15), "answered \(waited) after the kill, not hours: \(statuses)")
                let order = try jsonObject(answer)
                #expect(order["amount_minor"] as? Int == 499)
                #expect((order["payment"] as? [String: Any])?["client_secret"] is String)
                let count = try await ChildProcess.run("/usr/bin/psql", [TestEnvironment.postgresURL, "-tAc",
                    "SELECT count(*) FROM orders WHERE tenant = '\(Self.tenant)' AND player_id = '\(player)'"]).output
                #expect(count.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "one order for the key")
                #expect(simulator.statistics.paymentIntentsCreated == 1, "one payment for the order")
                second.child.signal(SIGTERM)
                _ = try await second.child.waitForExit(timeout: .seconds(20))
            }
        }
    }
}
