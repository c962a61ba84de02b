import Foundation
import TollgateCheckout
import TollgateRedis

/// Idempotency records in Redis: `idem:{tenant}:player:key` holds the request's fingerprint while
/// it runs, then the final response, for `ttl` (the tenant's `idempotency_ttl`). Postgres's unique index stays the
/// truth: if Redis loses a record, the retry still finds the original order.
public struct IdempotencyRecordStore: Sendable {
    let redis: RedisClient
    let ttl: Duration

    public init(redis: RedisClient, ttl: Duration) {
        self.redis = redis
        self.ttl = ttl
    }

    static func key(tenant: String, player: String, idempotencyKey: String) -> String {
        "idem:{\(tenant)}:\(player):\(idempotencyKey)"
    }

    /// Claims the key for a new request, or returns the record already there.
    /// Nil means the claim is ours: go ahead.
    public func claim(tenant: String, player: String, idempotencyKey: String, fingerprint: String) async throws(RedisError) -> Idempotency.Record? {
        let key = Self.key(tenant: tenant, player: player, idempotencyKey: idempotencyKey)
        let value = Self.encode(.inFlight(fingerprint: fingerprint))
        if try await redis.set(key, to: RESPArgument(value), condition: .ifNotExists, expiration: .seconds(Int(ttl.components.seconds))) {
            return nil
        }
        guard let stored = try await redis.get(key) else { return nil }  // expired in between: ours now
        return Self.decode(String(decoding: stored, as: UTF8.self))
    }

    /// Stores a final response (2xx, 4xx) for replay.
    public func complete(tenant: String, player: String, idempotencyKey: String, fingerprint: String, response: Idempotency.StoredResponse) async throws(RedisError) {
        let key = Self.key(tenant: tenant, player: player, idempotencyKey: idempotencyKey)
        try await redis.set(key, to: RESPArgument(Self.encode(.completed(fingerprint: fingerprint, response: response))),
                            expiration: .seconds(Int(ttl.components.seconds)))
    }

    /// Drops an in-flight claim (a transient failure: the client may retry with the same key).
    public func release(tenant: String, player: String, idempotencyKey: String) async throws(RedisError) {
        try await redis.delete([Self.key(tenant: tenant, player: player, idempotencyKey: idempotencyKey)])
    }

    static func encode(_ record: Idempotency.Record) -> String {
        let object: [String: Any]
        switch record {
        case .inFlight(let fingerprint):
            object = ["state": "in_flight", "fingerprint": fingerprint]
        case .completed(let fingerprint, let response):
            object = ["state": "completed", "fingerprint": fingerprint, "status": response.status,
                      "headers": response.headers, "body": Data(response.body).base64EncodedString()]
        }
        return String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }

    static func decode(_ text: String) -> Idempotency.Record? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let fingerprint = object["fingerprint"] as? String
        else { return nil }
        switch object["state"] as? String {
        case "in_flight": return .inFlight(fingerprint: fingerprint)
        case "completed":
            guard let status = object["status"] as? Int, let headers = object["headers"] as? [String: String],
                  let body = (object["body"] as? String).flatMap({ Data(base64Encoded: $0) })
            else { return nil }
            return .completed(fingerprint: fingerprint, response: .init(status: status, headers: headers, body: Array(body)))
        default: return nil
        }
    }
}
