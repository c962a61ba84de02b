import Foundation
import Logging
import Testing
import TollgateCheckout
import TollgateHTTP
import TollgateRedisStores
import TollgateRedis
import TollgateTestSupport
import TollgateCore

/// Idempotency records against a real redis-server.
@Suite struct IdempotencyRecordStoreTests {
    func withStore(lease: Duration = .seconds(5), _ body: @Sendable (IdempotencyRecordStore, RedisClient) async throws -> Void) async throws {
        try await RedisServerProcess.withConnectedClient { redis in
            try await body(IdempotencyRecordStore(redis: redis, ttl: .seconds(86_400), lease: lease), redis)
        }
    }

    @Test func claimThenReplayThenMismatchAndRelease() async throws {
        try await withStore { store, _ in
            let key = (tenant: "acme", player: "p1", idempotencyKey: "k-\(UUID().uuidString)")

            #expect(try await store.claim(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1", token: "t1") == nil)
            let second = try await store.claim(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1", token: "t2")
            #expect(Idempotency.decide(record: second, fingerprint: "f1") == .inProgress)

            let response = Idempotency.StoredResponse(status: 201, headers: ["Content-Type": "application/json"], body: Array(#"{"order_id":"o1"}"#.utf8))
            // Only the claim's holder stores the answer over it.
            #expect(try await store.complete(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1", token: "t2", response: response) == false)
            #expect(try await store.complete(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1", token: "t1", response: response))
            let replay = try await store.claim(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1", token: "t3")
            #expect(Idempotency.decide(record: replay, fingerprint: "f1") == .replay(response))
            #expect(Idempotency.decide(record: replay, fingerprint: "f2") == .mismatch)
            // A late release of the claim cannot drop the answer that replaced it.
            try await store.release(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1", token: "t1")
            #expect(try await store.claim(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1", token: "t4") != nil)

            // Another player's identical key is a different record.
            #expect(try await store.claim(tenant: key.tenant, player: "p2", idempotencyKey: key.idempotencyKey, fingerprint: "f1", token: "t5") == nil)
            try await store.release(tenant: key.tenant, player: "p2", idempotencyKey: key.idempotencyKey, fingerprint: "f1", token: "t5")
            #expect(try await store.claim(tenant: key.tenant, player: "p2", idempotencyKey: key.idempotencyKey, fingerprint: "f9", token: "t6") == nil)
        }
    }

    /// A claim whose holder died (no renewal) lapses within its lease, not the answer's 24 h; a
    /// renewed claim stays; only its holder can renew or release it.
    @Test func anUnrenewedClaimLapsesWithinItsLeaseARenewedOneStays() async throws {
        try await withStore(lease: .milliseconds(400)) { store, redis in
            let key = "k-\(UUID().uuidString)"
            #expect(try await store.claim(tenant: "acme", player: "p1", idempotencyKey: key, fingerprint: "f1", token: "mine") == nil)
            let ttl = try await redis.send(RESPCommand("PTTL", [RESPArgument("idem:{acme}:p1:\(key)")])).integer ?? -1
            #expect((1...400).contains(ttl), "the in-flight claim lives one lease, not the answer's TTL: \(ttl)")
            for _ in 0..<4 {
                try await Task.sleep(for: .milliseconds(200))
                #expect(try await store.renew(tenant: "acme", player: "p1", idempotencyKey: key, fingerprint: "f1", token: "mine"))
            }
            #expect(try await store.claim(tenant: "acme", player: "p1", idempotencyKey: key, fingerprint: "f1", token: "other") == .inFlight(fingerprint: "f1"),
                    "800 ms in, renewed: still held")
            #expect(try await store.renew(tenant: "acme", player: "p1", idempotencyKey: key, fingerprint: "f1", token: "other") == false)
            try await store.release(tenant: "acme", player: "p1", idempotencyKey: key, fingerprint: "f1", token: "other")
            #expect(try await store.claim(tenant: "acme", player: "p1", idempotencyKey: key, fingerprint: "f1", token: "third") != nil, "not released by another token")
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await store.claim(tenant: "acme", player: "p1", idempotencyKey: key, fingerprint: "f2", token: "retry") == nil,
                    "its holder stopped renewing: the key is free again within one lease")
            // The first holder finishes late: its answer never replaces the new claim.
            let late = Idempotency.StoredResponse(status: 201, headers: [:], body: [])
            #expect(try await store.complete(tenant: "acme", player: "p1", idempotencyKey: key, fingerprint: "f1", token: "mine", response: late) == false)
            #expect(try await store.claim(tenant: "acme", player: "p1", idempotencyKey: key, fingerprint: "f2", token: "x") == .inFlight(fingerprint: "f2"))
        }
    }
}
