import Logging
import Metrics
import TollgateOrders
import TollgateRedis

/// The fast path of deduplication: Redis remembers event ids that are in flight or committed.
///
/// Redis is an optimisation, never the guard: Postgres's unique key decides. So every Redis
/// failure (down, slow, error) degrades to "unknown" and the request goes on to Postgres.
public struct WebhookDeduplicator: Sendable {
    let redis: RedisClient
    let doneTTL: Duration
    let inFlightTTL: Duration
    let logger: Logger

    public init(redis: RedisClient, doneTTL: Duration, inFlightTTL: Duration, logger: Logger) {
        self.redis = redis
        self.doneTTL = doneTTL
        self.inFlightTTL = inFlightTTL
        self.logger = logger
    }

    public func claim(_ events: [PaymentEvent]) async -> WebhookClaim {
        var claimedKeys: [String] = []
        var sawDone = 0
        do {
            for event in events {
                let key = event.key.redisKey
                if try await redis.set(key, to: "processing", condition: .ifNotExists, expiration: .milliseconds(Int(inFlightTTL.components.seconds * 1000))) {
                    claimedKeys.append(key)
                    continue
                }
                switch try await redis.get(key).map({ String(decoding: $0, as: UTF8.self) }) {
                case "done": sawDone += 1
                case "processing":
                    await release(claimedKeys)
                    return .inFlight
                default:
                    // Expired between SET and GET: Postgres will tell.
                    continue
                }
            }
        } catch {
            fallback(error)
            return .claimed
        }
        if sawDone == events.count { return .allDone }
        return .claimed
    }

    /// After the commit: remember the ids as done for `doneTTL`.
    public func markDone(_ events: [PaymentEvent]) async {
        do {
            for event in events {
                try await redis.set(event.key.redisKey, to: "done", expiration: .seconds(Int(doneTTL.components.seconds)))
            }
        } catch {
            fallback(error)
        }
    }

    /// The commit failed: drop our claims so the provider's retry is not told "in flight".
    public func release(_ events: [PaymentEvent]) async {
        await release(events.map(\.key.redisKey))
    }

    private func release(_ keys: [String]) async {
        guard !keys.isEmpty else { return }
        do {
            try await redis.delete(keys)
        } catch {
            fallback(error)
        }
    }

    private func fallback(_ error: RedisError) {
        Counter(label: "tollgate_dedup_redis_fallbacks_total", dimensions: [("error", error.metricLabel)]).increment()
        logger.warning("redis dedup unavailable; relying on postgres", metadata: ["error": "\(error)"])
    }
}

/// What the dedup store answers for a callback's events.
public enum WebhookClaim: Equatable, Sendable {
    /// We hold the in-flight claim for every event (or the store could not tell): go on.
    case claimed
    /// Every event is already committed: answer success without touching Postgres.
    case allDone
    /// Another delivery of one of these events is in flight: ask the provider to retry.
    case inFlight
}
