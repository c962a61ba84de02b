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
    @Test func claimThenReplayThenMismatchAndRelease() async throws {
        let server = try RedisServerProcess()
        try await server.start()
        let redis = RedisClient(configuration: .init(endpoint: RedisEndpoint(url: server.url)!), logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await redis.run() }
            defer { group.cancelAll() }
            try await TestEnvironment.waitUntil { redis.isConnected }
            let store = IdempotencyRecordStore(redis: redis, ttl: .seconds(86_400))
            let key = (tenant: "acme", player: "p1", idempotencyKey: "k-\(UUID().uuidString)")

            #expect(try await store.claim(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1") == nil)
            let second = try await store.claim(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1")
            #expect(Idempotency.decide(record: second, fingerprint: "f1") == .inProgress)

            let response = Idempotency.StoredResponse(status: 201, headers: ["Content-Type": "application/json"], body: Array(#"{"order_id":"o1"}"#.utf8))
            try await store.complete(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1", response: response)
            let replay = try await store.claim(tenant: key.tenant, player: key.player, idempotencyKey: key.idempotencyKey, fingerprint: "f1")
            #expect(Idempotency.decide(record: replay, fingerprint: "f1") == .replay(response))
            #expect(Idempotency.decide(record: replay, fingerprint: "f2") == .mismatch)

            // Another player's identical key is a different record.
            #expect(try await store.claim(tenant: key.tenant, player: "p2", idempotencyKey: key.idempotencyKey, fingerprint: "f1") == nil)

            try await store.release(tenant: key.tenant, player: "p2", idempotencyKey: key.idempotencyKey)
            #expect(try await store.claim(tenant: key.tenant, player: "p2", idempotencyKey: key.idempotencyKey, fingerprint: "f9") == nil)
        }
        try await server.stop()
    }
}
