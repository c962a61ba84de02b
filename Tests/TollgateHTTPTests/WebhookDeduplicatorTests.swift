import Foundation
import Logging
import Testing
import TollgateCore
import TollgateOrders
import TollgateRedis
import TollgateRedisStores
import TollgateTestSupport

/// The webhook dedup claims against a real redis-server: one script per callback, atomic.
@Suite struct WebhookDeduplicatorTests {
    func withDeduplicator(_ body: @Sendable (WebhookDeduplicator, RedisClient) async throws -> Void) async throws {
        // No preloaded scripts: the first EVALSHA of each finds NOSCRIPT and loads it.
        try await RedisServerProcess.withConnectedClient { redis in
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

    @Test func redisDownFallsBackToPostgres() async throws {
        let redis = RedisClient(configuration: .init(endpoint: RedisEndpoint(url: "redis://127.0.0.1:1/0")!), logger: Logger(label: "test"))
        let dedup = WebhookDeduplicator(redis: redis, doneTTL: .seconds(60), inFlightTTL: .seconds(30), logger: Logger(label: "test"))
        // Never connected: the claim is "go on", never an error, and the done mark is dropped.
        #expect(await dedup.claim([event("x")]) == .claimed)
        await dedup.markDone([event("x")])
    }
}
