import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TollgateConfig
import TollgateCore
import TollgateHTTP
@testable import TollgateRedisStores
import TollgateTestSupport

/// Rate limits on the webhook path against a real Redis.
@Suite(.serialized) struct RateLimitTests {
    typealias W = WebhookIngressTests

    func rulesDirectory(_ files: [String: String]) throws -> URL {
        let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-rules")
        for (name, text) in files { try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return directory
    }

    func store(_ directory: URL) throws -> RulesStore {
        try RulesStore(directory: directory.path, logger: Logger(label: "test.rules"))
    }

    static let tight = """
        rules:
          - name: acme-tight
            match: { route: webhooks }
            rate: 2/min
            burst: 2
            by: tenant
        """

    func deliver(_ client: HTTPClient, _ edge: EdgeHarness.Running, secret: String = W.acmeSecret) async throws -> (HTTPClientResponse, String) {
        let body = W.stripeBody(event: W.unique("evt_"), order: W.unique("ord_"))
        return try await client.fetch(edge.edge + "/v1/webhooks/acme/stripe", method: .POST,
                                      headers: [("Stripe-Signature", W.stripeSignature(body, secret: secret))], body: .bytes(ByteBuffer(string: body)))
    }

    @Test func overTheLimitIs429WithHeadersAndForgeriesSpendNoBudget() async throws {
        let certificates = try await TestCertificates.make()
        let redis = try RedisServerProcess()
        try await redis.start()
        let rules = try store(try rulesDirectory(["acme.yaml": Self.tight]))
        try await EdgeHarness.withServer(certificates: certificates, redisURL: redis.url, tenants: W.tenants, rules: rules) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                for _ in 0..<5 {
                    let status1 = try await deliver(client, edge, secret: "whsec_forged").0.status
                    #expect(status1 == .unauthorized)
                }
                let (first, _) = try await deliver(client, edge)
                #expect(first.status == .ok)
                #expect(first.headers["ratelimit-policy"].first == #""acme-tight";q=2;w=60"#)
                #expect(first.headers["ratelimit"].first?.hasPrefix(#""acme-tight";r=1;t="#) == true)
                let status2 = try await deliver(client, edge).0.status
                #expect(status2 == .ok)
                let (denied, body) = try await deliver(client, edge)
                #expect(denied.status == .tooManyRequests)
                #expect(denied.headers["content-type"].first == "application/problem+json")
                let retryAfter = Int(denied.headers["retry-after"].first ?? "") ?? 0
                #expect((25...30).contains(retryAfter), "one request per 30 s: \(retryAfter)")
                #expect(denied.headers["ratelimit"].first?.hasPrefix(#""acme-tight";r=0;t="#) == true)
                let problem = try jsonObject(body)
                #expect(problem["type"] as? String == "urn:tollgate:problem:too-many-requests")
                #expect(problem["rule"] as? String == "acme-tight")
            }
        }
        try await redis.stop()
    }

    @Test func shadowRulesNeverDeny() async throws {
        let certificates = try await TestCertificates.make()
        let rules = try store(try rulesDirectory(["acme.yaml": Self.tight.replacingOccurrences(of: "by: tenant", with: "by: tenant\n    mode: shadow")]))
        try await EdgeHarness.withServer(certificates: certificates, tenants: W.tenants, rules: rules) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                for _ in 0..<4 {
                    let status3 = try await deliver(client, edge).0.status
                    #expect(status3 == .ok)
                }
            }
        }
    }

    @Test func brokenEditKeepsOldRulesAndAGoodEditTakesEffectWithinTwoSeconds() async throws {
        let certificates = try await TestCertificates.make()
        let redis = try RedisServerProcess()
        try await redis.start()
        let directory = try rulesDirectory(["acme.yaml": Self.tight])
        let rules = try store(directory)
        try await EdgeHarness.withServer(certificates: certificates, redisURL: redis.url, tenants: W.tenants, rules: rules) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                // A broken edit: the admin reload names file and line, the old rule stays.
                try "rules:\n  - name: acme-tight\n    match: { route: webhooks }\n    rate: lots\n".write(
                    to: directory.appendingPathComponent("acme.yaml"), atomically: true, encoding: .utf8)
                let (rejected, body) = try await client.fetch(edge.admin + "/admin/rules/reload", method: .POST)
                #expect(rejected.status == .unprocessableEntity)
                #expect(body.contains("acme.yaml:4:11: bad rate 'lots'"))
                let (inForce, inForceBody) = try await client.fetch(edge.admin + "/admin/rules")
                #expect(inForce.status == .ok)
                #expect(inForceBody.contains(#""rate":"2/60s""#))
                for _ in 0..<2 { let status4 = try await deliver(client, edge).0.status
                #expect(status4 == .ok)
                }
                let status5 = try await deliver(client, edge).0.status
                #expect(status5 == .tooManyRequests)

                // A good edit under a new name: picked up by the poll, no restart.
                try "rules:\n  - name: acme-roomy\n    match: { route: webhooks }\n    rate: 1000/s\n".write(
                    to: directory.appendingPathComponent("acme.yaml"), atomically: true, encoding: .utf8)
                let start = ContinuousClock.now
                try await TestEnvironment.waitUntil(timeout: .seconds(2)) {
                    try await deliver(client, edge).0.status == .ok
                }
                #expect(ContinuousClock.now - start < .seconds(2))
            }
        }
        try await redis.stop()
    }

    @Test func redisStoppedMidStreamIsDecidedLocallyAndNothingFails() async throws {
        let certificates = try await TestCertificates.make()
        let redis = try RedisServerProcess()
        try await redis.start()
        let rules = try store(try rulesDirectory(["acme.yaml": "rules:\n  - name: acme\n    match: { route: webhooks }\n    rate: 20/s\n    burst: 5\n"]))
        try await EdgeHarness.withServer(certificates: certificates, redisURL: redis.url, tenants: W.tenants, rules: rules) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                var statuses: [UInt] = []
                for index in 0..<60 {
                    if index == 20 { try await redis.stop() }
                    statuses.append(try await deliver(client, edge).0.status.code)
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(statuses.allSatisfy { $0 == 200 || $0 == 429 }, "\(statuses)")
                #expect(statuses.suffix(40).contains(200), "the local fallback still admits")
            }
            let (metrics, _) = try await EdgeHarness.withClient(trusting: certificates.caPath) { try await $0.fetch(edge.admin + "/metrics") }
            #expect(metrics.status == .ok)
        }
        try await redis.stop()
    }

    /// What one sender saw: its answers, and when its first and last requests left and returned.
    struct SenderTally: Sendable {
        var admitted = 0, sent = 0
        var unexpected: [UInt] = []
        var firstSent = ContinuousClock.Instant.now, firstAnswered = ContinuousClock.Instant.now
        var lastSent = ContinuousClock.Instant.now, lastAnswered = ContinuousClock.Instant.now

        static func + (a: Self, b: Self) -> Self {
            var sum = a
            sum.admitted += b.admitted
            sum.sent += b.sent
            sum.unexpected += b.unexpected
            sum.firstSent = min(a.firstSent, b.firstSent)
            sum.firstAnswered = min(a.firstAnswered, b.firstAnswered)
            sum.lastSent = max(a.lastSent, b.lastSent)
            sum.lastAnswered = max(a.lastAnswered, b.lastAnswered)
            return sum
        }

        static func sum(_ group: inout ThrowingTaskGroup<Self, any Error>) async throws -> Self {
            var total: Self?
            for try await tally in group { total = total.map { $0 + tally } ?? tally }
            return total!
        }
    }

    @Test func twoInstancesSharingRedisAdmitWithinTwoPercentOfTheIdeal() async throws {
        let certificates = try await TestCertificates.make()
        let redis = try RedisServerProcess()
        try await redis.start()
        // 100/s with a burst of 100: well under what 64 senders offer even on a loaded CI machine
        // (about 280/s there), so the limiter is always the bottleneck and the ideal is exact.
        let rate = 100.0, burst = 100.0
        let directory = try rulesDirectory(["acme.yaml": "rules:\n  - name: acme-100\n    match: { route: webhooks }\n    rate: 100/s\n"])
        let rulesA = try store(directory), rulesB = try store(directory)
        // Both instances, 64 senders, Postgres and Redis share this test's 2 cores, so Redis answers
        // are often later than the 5 ms production budget; this test measures the shared-Redis
        // algorithm, so it gives Redis 100 ms (the local fallback has its own test).
        try await EdgeHarness.withServer(certificates: certificates, redisURL: redis.url, tenants: W.tenants, rules: rulesA, redisBudget: .milliseconds(100)) { a in
            try await EdgeHarness.withServer(certificates: certificates, redisURL: redis.url, tenants: W.tenants, rules: rulesB, redisBudget: .milliseconds(100)) { b in
                let duration: Duration = .seconds(10)
                let start = ContinuousClock.now
                let total = try await withThrowingTaskGroup(of: SenderTally.self) { group in
                    for clientIndex in 0..<4 {
                        let edge = clientIndex % 2 == 0 ? a : b
                        group.addTask {
                            try await EdgeHarness.withClient(trusting: certificates.caPath, httpVersion: .http1Only) { client in
                                try await withThrowingTaskGroup(of: SenderTally.self) { senders in
                                    for _ in 0..<16 {   // 4 clients x 16 = 64 concurrent senders
                                        senders.addTask {
                                            var tally = SenderTally()
                                            while ContinuousClock.now - start < duration {
                                                let sentAt = ContinuousClock.now
                                                let code = try await deliver(client, edge).0.status.code
                                                let answeredAt = ContinuousClock.now
                                                if tally.sent == 0 { (tally.firstSent, tally.firstAnswered) = (sentAt, answeredAt) }
                                                (tally.lastSent, tally.lastAnswered) = (sentAt, answeredAt)
                                                tally.sent += 1
                                                if code == 200 { tally.admitted += 1 } else if code != 429 { tally.unexpected.append(code) }
                                            }
                                            return tally
                                        }
                                    }
                                    return try await SenderTally.sum(&senders)
                                }
                            }
                        }
                    }
                    return try await SenderTally.sum(&group)
                }
                // GCRA admits the burst plus `rate` per second of the window between its first and
                // last decision. The client does not see when Redis decided, only that it was
                // between a request's sending and its answer; so the window is bounded from both
                // sides rather than taken from the test's clock (which also counts the TLS
                // handshakes before the first request: the failure this replaced).
                let widest = (total.lastAnswered - total.firstSent).seconds
                let narrowest = max(0, (total.lastSent - total.firstAnswered).seconds)
                let most = burst + rate * widest, fewest = min(burst + rate * narrowest, Double(total.sent))
                let summary = "admitted \(total.admitted) of \(total.sent) sent; GCRA admits \(Int(fewest))...\(Int(most)) in this window"
                #expect(total.unexpected.isEmpty, "only 200 and 429 expected: \(total.unexpected.prefix(10))")
                #expect(Double(total.admitted) <= most * 1.02, "\(summary)")
                #expect(Double(total.admitted) >= fewest * 0.98, "\(summary)")
            }
        }
        try await redis.stop()
    }
}
