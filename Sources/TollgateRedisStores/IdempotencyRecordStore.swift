import Foundation
import TollgateCheckout
import TollgateCore
import TollgateRedis

/// Idempotency records in Redis: `idem:{tenant}:player:key`.
///
/// Two lifetimes, kept apart. While a request runs, the key holds an in-flight claim (the request's
/// fingerprint and a claim token) that lives only `lease` and is renewed while the request runs: a
/// crashed edge or a lost reply wedges the key for seconds, never for the answer's lifetime. The
/// final response then replaces it for `ttl` (the tenant's `idempotency_ttl`). Postgres stays the
/// truth: if Redis loses a record, the retry finds the original order and its fingerprint there.
public struct IdempotencyRecordStore: Sendable {
    let redis: RedisClient
    let ttl: Duration
    public let lease: Duration

    public init(redis: RedisClient, ttl: Duration, lease: Duration = .seconds(5)) {
        self.redis = redis
        self.ttl = ttl
        self.lease = lease
    }

    static func key(tenant: String, player: String, idempotencyKey: String) -> String {
        "idem:{\(tenant)}:\(player):\(idempotencyKey)"
    }

    /// Extends the claim only if it is still the one this request made.
    static let renewScript = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """)
    /// Stores the answer only over this request's own claim, or where nothing is left (the lease
    /// lapsed, no one claimed since): never over a later request's claim or answer.
    static let completeScript = RedisScript("""
        local current = redis.call('GET', KEYS[1])
        if current == false or current == ARGV[1] then
          redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
          return 1
        end
        return 0
        """)
    /// Drops the claim only if it is still the one this request made (not a later request's, nor an answer).
    static let releaseScript = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)

    /// Claims the key for a new request for one lease, or returns the record already there.
    /// Nil means the claim is ours: go ahead, renew it with `token` while working.
    public func claim(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String) async throws(RedisError) -> Idempotency.Record? {
        let key = Self.key(tenant: tenant, player: player, idempotencyKey: idempotencyKey)
        let value = Self.encodeClaim(fingerprint: fingerprint, token: token)
        // A record that lapses between the SET and the GET leaves nothing to read: claim again.
        for _ in 0..<3 {
            if try await redis.set(key, to: RESPArgument(value), condition: .ifNotExists, expiration: .milliseconds(Self.milliseconds(lease))) {
                return nil
            }
            if let stored = try await redis.get(key) { return Self.decode(String(decoding: stored, as: UTF8.self)) }
        }
        throw .unexpectedReply("the idempotency record kept lapsing while being claimed")
    }

    /// Extends this request's claim by one lease. False when the claim is no longer ours.
    @discardableResult
    public func renew(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String) async throws(RedisError) -> Bool {
        let reply = try await redis.evaluate(Self.renewScript, keys: [Self.key(tenant: tenant, player: player, idempotencyKey: idempotencyKey)],
                                             arguments: [RESPArgument(Self.encodeClaim(fingerprint: fingerprint, token: token)), RESPArgument(Self.milliseconds(lease))])
        return reply.integer == 1
    }

    /// Stores a final response (2xx, 4xx) for replay, for the full `ttl`, in place of this request's
    /// claim. False when another request holds the key now (this one's lease lapsed and it was
    /// claimed again): its record stands.
    public func complete(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String,
                         response: Idempotency.StoredResponse) async throws(RedisError) -> Bool {
        let reply = try await redis.evaluate(Self.completeScript, keys: [Self.key(tenant: tenant, player: player, idempotencyKey: idempotencyKey)], arguments: [
            RESPArgument(Self.encodeClaim(fingerprint: fingerprint, token: token)),
            RESPArgument(Self.encode(.completed(fingerprint: fingerprint, response: response))),
            RESPArgument(Int(ttl.components.seconds)),
        ])
        return reply.integer == 1
    }

    /// Drops this request's claim (a transient failure: the client may retry with the same key at once).
    public func release(tenant: String, player: String, idempotencyKey: String, fingerprint: String, token: String) async throws(RedisError) {
        _ = try await redis.evaluate(Self.releaseScript, keys: [Self.key(tenant: tenant, player: player, idempotencyKey: idempotencyKey)],
                                     arguments: [RESPArgument(Self.encodeClaim(fingerprint: fingerprint, token: token))])
    }

    static func milliseconds(_ duration: Duration) -> Int { max(1, Int(duration.milliseconds)) }

    static func encodeClaim(fingerprint: String, token: String) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: ["state": "in_flight", "fingerprint": fingerprint, "token": token],
                                                       options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }

    static func encode(_ record: Idempotency.Record) -> String {
        let object: [String: Any]
        switch record {
        case .inFlight(let fingerprint):
            return encodeClaim(fingerprint: fingerprint, token: "")
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
