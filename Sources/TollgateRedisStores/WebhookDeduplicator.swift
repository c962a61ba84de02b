import Logging
import Metrics
import TollgateOrders
import TollgateRedis

/// The fast path of deduplication: Redis remembers event ids that are in flight or committed.
///
/// Redis is an optimisation, never the guard: Postgres's unique key decides. So every Redis
/// failure (down, slow, error) degrades to "unknown" and the request goes on to Postgres.
/// A callback costs two round trips here whatever its number of events: the claim and the done
/// mark (each a script, preloaded on every connection: ``scripts``).
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

    /// Claims every event of a callback in one round trip (``claimScript``), atomically: either
    /// each event not yet done is now ours, or one is in flight elsewhere and nothing is claimed.
    public func claim(_ events: [PaymentEvent]) async -> WebhookClaim {
        guard !events.isEmpty else { return .claimed }
        do throws(RedisError) {
            let reply = try await redis.evaluate(Self.claimScript, keys: events.map(\.key.redisKey),
                                                 arguments: [RESPArgument(Int(inFlightTTL.components.seconds * 1000))])
            switch reply.string {
            case "all_done": return .allDone
            case "in_flight": return .inFlight
            case "claimed": return .claimed
            default: throw RedisError.unexpectedReply("dedup claim answered \(reply)")
            }
        } catch {
            fallback(error)
            return .claimed
        }
    }

    /// After the commit: remember the ids as done for `doneTTL`, in one round trip.
    public func markDone(_ events: [PaymentEvent]) async {
        guard !events.isEmpty else { return }
        do throws(RedisError) {
            _ = try await redis.evaluate(Self.doneScript, keys: events.map(\.key.redisKey), arguments: [RESPArgument(Int(doneTTL.components.seconds))])
        } catch {
            fallback(error)
        }
    }

    /// KEYS: a callback's dedup keys (one tenant: they share the `{tenant}` hash slot).
    /// ARGV[1]: the in-flight lease in ms. Answers `claimed` (every key not done is now held by
    /// this call; a key holding anything else is left to Postgres), `all_done`, or `in_flight`
    /// (another delivery holds one: the keys this call had claimed are given back).
    public static let claimScript = RedisScript("""
        local claimed, done = {}, 0
        for _, key in ipairs(KEYS) do
          if redis.call('SET', key, 'processing', 'NX', 'PX', ARGV[1]) then
            claimed[#claimed + 1] = key
          else
            local state = redis.call('GET', key)
            if state == 'done' then
              done = done + 1
            elseif state == 'processing' then
              for _, mine in ipairs(claimed) do redis.call('DEL', mine) end  -- unpack stops near 8,000
              return 'in_flight'
            end
          end
        end
        if done == #KEYS then return 'all_done' end
        return 'claimed'
        """)

    /// KEYS: the committed events' dedup keys; ARGV[1]: how long they stay done, in seconds.
    public static let doneScript = RedisScript("""
        for _, key in ipairs(KEYS) do redis.call('SET', key, 'done', 'EX', ARGV[1]) end
        return #KEYS
        """)

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

    /// The scripts connections load before taking commands (`RedisClient.Configuration.preloadedScripts`).
    public static let scripts = [claimScript, doneScript]

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
