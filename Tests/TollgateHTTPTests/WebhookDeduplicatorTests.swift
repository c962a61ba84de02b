import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing
import TollgateCore
import TollgateOrders
import TollgateRateLimits
import TollgateRedis
@testable import TollgateRedisStores
import TollgateTestSupport

/// The webhook dedup claims against a real redis-server: one script per callback, atomic.
@Suite struct WebhookDeduplicatorTests {
    func withDeduplicator(_ body: @Sendable (WebhookDeduplicator, RedisClient) async throws -> Void) async throws {
        // No preloaded scripts: the first EVALSHA of each finds NOSCRIPT and loads it.
        try await RedisServerProcess.withConnectedClient(configure: { $0.commandTimeout = .seconds(5) }) { redis in
            try await body(WebhookDeduplicator(redis: redis, doneTTL: .seconds(3600), inFlightTTL: .seconds(30), logger: Logger(label: "test")), redis)
        }
    }

    func event(_ id: String) -> PaymentEvent {
        PaymentEvent(tenant: "acme", source: "adyen", provider: .adyen, providerEventID: id, kind: .paymentSucceeded, rawBody: [])
    }

    func state(_ event: PaymentEvent, _ redis: RedisClient) async throws -> String? {
        try await redis.get(event.key.redisKey).map { String(decoding: $0, as: UTF8.self) }
    }

    func ttl(_ event: PaymentEvent, _ redis: RedisClient) async throws -> Int64 {
        try await redis.send(RESPCommand("PTTL", [RESPArgument(event.key.redisKey)])).integer ?? -3
    }

    @Test func claimThenInFlightThenDoneThenDuplicate() async throws {
        try await withDeduplicator { dedup, redis async throws in
            let one = event("e-\(UUID().uuidString)")
            #expect(await dedup.claim([one]) == .claimed)
            #expect(try await state(one, redis) == "processing")
            #expect((1...30_000).contains(try await ttl(one, redis)))
            // A second delivery while the first is committing is told to come back.
            #expect(await dedup.claim([one]) == .inFlight)
            await dedup.markDone([one])
            #expect(try await state(one, redis) == "done")
            #expect((3_590_000...3_600_000).contains(try await ttl(one, redis)))
            #expect(await dedup.claim([one]) == .allDone)
        }
    }

    @Test func aBatchWithOneEventInFlightClaimsNothing() async throws {
        try await withDeduplicator { dedup, redis async throws in
            let held = event("held-\(UUID().uuidString)"), fresh = event("fresh-\(UUID().uuidString)"), done = event("done-\(UUID().uuidString)")
            #expect(await dedup.claim([held]) == .claimed)
            await dedup.markDone([done])
            // The fresh item is claimed first, then the held one is found: the claim is given back,
            // so the provider's retry of the whole batch does not find its own claim.
            #expect(await dedup.claim([fresh, done, held]) == .inFlight)
            #expect(try await state(fresh, redis) == nil)
            #expect(try await state(held, redis) == "processing")
            #expect(try await state(done, redis) == "done")
        }
    }

    @Test func aBatchPartlyDoneIsClaimedAndOnlyAllDoneIsADuplicate() async throws {
        try await withDeduplicator { dedup, redis async throws in
            let done = event("done-\(UUID().uuidString)"), fresh = event("fresh-\(UUID().uuidString)")
            await dedup.markDone([done])
            #expect(await dedup.claim([done, fresh]) == .claimed)
            #expect(try await state(fresh, redis) == "processing")
            #expect(try await state(done, redis) == "done")
            await dedup.markDone([done, fresh])
            #expect(await dedup.claim([fresh, done]) == .allDone)
        }
    }

    @Test func releaseGivesTheClaimsBackAndAStrangeValueIsLeftToPostgres() async throws {
        try await withDeduplicator { dedup, redis async throws in
            let a = event("a-\(UUID().uuidString)"), b = event("b-\(UUID().uuidString)")
            #expect(await dedup.claim([a, b]) == .claimed)
            await dedup.release([a, b])
            #expect(try await state(a, redis) == nil)
            #expect(try await state(b, redis) == nil)
            // A key holding neither state (written by something else) is neither done nor in
            // flight: the callback goes on and Postgres's unique key decides.
            // The script's own answer, so a fallback (which also says "go on") cannot pass for it.
            _ = try await redis.set(a.key.redisKey, to: "garbage")
            let reply = try await redis.evaluate(WebhookDeduplicator.claimScript, keys: [a.key.redisKey], arguments: ["30000"])
            #expect(reply.string == "claimed")
            #expect(await dedup.claim([a]) == .claimed)
            #expect(try await state(a, redis) == "garbage")
        }
    }

    @Test func scriptsFlushedFromRedisAreLoadedAgain() async throws {
        try await withDeduplicator { dedup, redis async throws in
            let one = event("f-\(UUID().uuidString)")
            #expect(await dedup.claim([one]) == .claimed)
            _ = try await redis.send(RESPCommand("SCRIPT", ["FLUSH"]))
            await dedup.markDone([one])
            #expect(try await state(one, redis) == "done")
            _ = try await redis.send(RESPCommand("SCRIPT", ["FLUSH"]))
            #expect(await dedup.claim([one]) == .allDone)
        }
    }

    // MARK: The rate limit and the claim in one script

    /// A deduplicator whose claims ride in the rate limit's script, with `rules` in force for
    /// tenant `acme`. One connection, so commands reach Redis in the order they were sent.
    func withLimitedDeduplicator(rules: String, commandTimeout: Duration = .seconds(10), instances: Int = 1,
                                 _ body: (WebhookDeduplicator, RedisClient) async throws -> Void) async throws {
        try await RedisServerProcess.withConnectedClient(configure: { configuration in
            configuration.poolSize = 1
            configuration.commandTimeout = commandTimeout
            configuration.preloadedScripts = [RateLimiter.script] + WebhookDeduplicator.scripts
        }) { redis in
            let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-rules")
            try rules.write(to: directory.appendingPathComponent("acme.yaml"), atomically: true, encoding: .utf8)
            var options = RateLimiter.Options()
            options.redisBudget = .milliseconds(1)  // the claim's call must not abandon Redis at the limit's budget
            options.instances = instances
            let limiter = RateLimiter(rules: try RulesStore(directory: directory.path, logger: Logger(label: "test.rules")), redis: redis,
                                      options: options, logger: Logger(label: "test.limiter"))
            try await body(WebhookDeduplicator(redis: redis, doneTTL: .seconds(3600), inFlightTTL: .seconds(30), limiter: limiter,
                                               logger: Logger(label: "test")), redis)
        }
    }

    static func webhookRule(route: String = "webhooks", burst: Int) -> String {
        """
        rules:
          - name: acme-webhooks
            match: { route: \(route) }
            rate: \(burst)/min
            burst: \(burst)
            by: tenant
        """
    }

    static let subject = RateLimitSubject(tenant: "acme", route: .webhooks, source: "adyen", method: "POST")

    /// The claim (nil when the limit denied) and the verdict.
    func admit(_ dedup: WebhookDeduplicator, _ events: [PaymentEvent]) async -> (claim: WebhookClaim?, verdict: RateLimitVerdict) {
        switch await dedup.claim(events, limitedAs: Self.subject) {
        case .denied(let verdict): (nil, verdict)
        case .admitted(let claim, let verdict): (claim, verdict)
        }
    }

    @Test func theLimitAdmitsAndClaimsInOneScriptAndADeniedCallbackClaimsNothing() async throws {
        try await withLimitedDeduplicator(rules: Self.webhookRule(burst: 2)) { dedup, redis async throws in
            let a = event("a-\(UUID().uuidString)"), b = event("b-\(UUID().uuidString)")
            let first = await admit(dedup, [a])
            #expect(first.claim == .claimed)
            #expect(first.verdict.admitted && !first.verdict.decidedLocally)
            #expect(first.verdict.limiting?.name == "acme-webhooks" && first.verdict.limiting?.remaining == 1)
            #expect(try await state(a, redis) == "processing")
            // The second delivery spends the last of the budget and finds the first one's claim.
            let second = await admit(dedup, [a])
            #expect(second.claim == .inFlight)
            #expect(second.verdict.limiting?.remaining == 0)
            // Over the limit: denied, and the script never reached the claim.
            let third = await admit(dedup, [b])
            #expect(third.claim == nil)
            #expect(!third.verdict.admitted && third.verdict.retryAfterSeconds >= 1)
            #expect(try await state(b, redis) == nil)
        }
    }

    @Test func aDuplicateIsStillAnsweredFromTheScript() async throws {
        try await withLimitedDeduplicator(rules: Self.webhookRule(burst: 100)) { dedup, redis async throws in
            let a = event("a-\(UUID().uuidString)"), b = event("b-\(UUID().uuidString)")
            #expect(await admit(dedup, [a, b]).claim == .claimed)
            await dedup.markDone([a, b])
            #expect(await admit(dedup, [b, a]).claim == .allDone)
            #expect(try await state(a, redis) == "done")
        }
    }

    @Test func withNoRuleForTheRouteTheClaimStillRuns() async throws {
        try await withLimitedDeduplicator(rules: Self.webhookRule(route: "checkout", burst: 1)) { dedup, redis async throws in
            let a = event("a-\(UUID().uuidString)")
            let first = await admit(dedup, [a])
            #expect(first.claim == .claimed && first.verdict.limiting == nil)
            #expect(try await state(a, redis) == "processing")
            #expect(await admit(dedup, [a]).claim == .inFlight)
        }
    }

    /// Redis blocked past its command timeout: the limit is decided in process and the claim is
    /// unknown, so an admitted callback goes on to Postgres. A callback denied locally while its
    /// script, run late, admitted and claimed in Redis keeps that claim until its lease ends:
    /// nothing deletes a key the call cannot know it holds.
    @Test func pastTheTimeoutTheLimitIsLocalAndTheClaimUnknown() async throws {
        // Redis admits two; each of two instances admits one locally.
        try await withLimitedDeduplicator(rules: Self.webhookRule(burst: 2), commandTimeout: .milliseconds(300), instances: 2) { dedup, redis async throws in
            let a = event("a-\(UUID().uuidString)"), b = event("b-\(UUID().uuidString)")
            let blocked = Task { try? await redis.send(RESPCommand("DEBUG", ["SLEEP", "5"])) }
            // Blocked once a probe behind the sleep times out.
            try await TestEnvironment.waitUntil { (try? await redis.send(RESPCommand("PING"))) == nil }
            let first = await admit(dedup, [a])
            #expect(first.claim == .claimed && first.verdict.decidedLocally)
            let second = await admit(dedup, [b])
            #expect(second.claim == nil && second.verdict.decidedLocally)
            _ = await blocked.value
            // Both scripts ran late in Redis and both admitted (the counter ends two emission
            // intervals, 2 x 30 s, ahead), so each claimed, within the 30 s lease.
            try await TestEnvironment.waitUntil { try await state(b, redis) == "processing" }
            let counter = try await redis.send(RESPCommand("PTTL", ["rl:{acme}:acme-webhooks:acme"])).integer ?? 0
            #expect(counter > 45_000)
            #expect(try await state(a, redis) == "processing")
            #expect((1...30_000).contains(try await ttl(b, redis)))
        }
    }

    // MARK: Done marks written behind the answer

    @Test func doneMarksQueuedTogetherShareScriptCalls() async throws {
        try await withDeduplicator { dedup, redis async throws in
            let events = (0..<200).map { event("m\($0)-\(UUID().uuidString)") }
            _ = try await redis.send(RESPCommand("CONFIG", ["RESETSTAT"]))
            // As 200 callbacks answered at once would: each queues its own mark and goes on.
            for one in events { dedup.queueDone([one]) }
            await dedup.markDone([])
            for one in events { #expect(try await state(one, redis) == "done") }
            let stats = try await redis.send(RESPCommand("INFO", ["commandstats"])).string ?? ""
            let calls = stats.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_evalsha:") }
                .flatMap { $0.split(separator: ",").first?.split(separator: "=").last }.flatMap { Int($0) } ?? 0
            #expect((1..<20).contains(calls), "\(calls) script calls for 200 marks")
        }
    }

    @Test func aFullQueueDropsMarksAndAWaiterSeesTheRestWritten() async throws {
        let written = NIOLockedValueBox([String]())
        let started = AsyncStream<Void>.makeStream(), gate = AsyncStream<Void>.makeStream()
        let queue = DoneMarkQueue(capacity: 3, batchSize: 2) { _, keys in
            // The first write waits for the test, so the queue fills behind it.
            if written.withLockedValue({ $0.isEmpty }) {
                started.continuation.yield()
                for await _ in gate.stream { break }
            }
            written.withLockedValue { $0 += keys }
        }
        queue.add(["a", "b"], slot: "acme")
        for await _ in started.stream { break }
        queue.add(["c", "d", "e", "f"], slot: "acme")  // a and b are being written; room for three
        queue.add(["g"], slot: "acme")  // full
        gate.continuation.yield()
        await queue.written()
        #expect(written.withLockedValue { $0 } == ["a", "b", "c", "d", "e"])
    }

    @Test func eachScriptCallWritesOneTenantsKeys() async throws {
        // One script call may touch one hash slot only (Redis Cluster): `{tenant}` is the tag.
        let calls = NIOLockedValueBox([(slot: String, keys: [String])]())
        let queue = DoneMarkQueue(capacity: 100, batchSize: 100) { slot, keys in calls.withLockedValue { $0.append((slot, keys)) } }
        queue.add(["a1"], slot: "a")
        queue.add(["b1", "b2"], slot: "b")
        queue.add(["a2"], slot: "a")
        await queue.written()
        let written = calls.withLockedValue { $0 }
        #expect(written.allSatisfy { call in call.keys.allSatisfy { $0.hasPrefix(call.slot) } })
        #expect(Set(written.flatMap(\.keys)) == ["a1", "a2", "b1", "b2"] && written.flatMap(\.keys).count == 4)
    }

    @Test func redisDownFallsBackToPostgres() async throws {
        let redis = RedisClient(configuration: .init(endpoint: RedisEndpoint(url: "redis://127.0.0.1:1/0")!), logger: Logger(label: "test"))
        let dedup = WebhookDeduplicator(redis: redis, doneTTL: .seconds(60), inFlightTTL: .seconds(30), logger: Logger(label: "test"))
        // Never connected: the claim is "go on", never an error, and the done mark is dropped.
        #expect(await dedup.claim([event("x")]) == .claimed)
        await dedup.markDone([event("x")])
    }
}
