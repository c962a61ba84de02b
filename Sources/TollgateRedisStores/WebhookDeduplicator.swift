import Logging
import Metrics
import TollgateOrders
import TollgateRedis

/// The fast path of deduplication: Redis remembers event ids that are in flight or committed.
///
/// Redis is an optimisation, never the guard: Postgres's unique key decides. So every Redis
/// failure (down, slow, error) degrades to "unknown" and the request goes on to Postgres.
/// A callback costs one round trip here whatever its number of events: the rate limit with the
/// claim; and a share of one for its done marks, written in one script call with the marks of
/// the callbacks that committed with it (``markDone(_:)``). Both are scripts, preloaded on every
/// connection (``scripts``).
public struct WebhookDeduplicator: Sendable {
    let redis: RedisClient
    let doneTTL: Duration
    let inFlightTTL: Duration
    let logger: Logger
    /// Decides the callback's rate limit in the claim's round trip; nil when no rules are loaded.
    let limiter: RateLimiter?
    private let doneMarks: DoneMarkQueue

    public init(redis: RedisClient, doneTTL: Duration, inFlightTTL: Duration, limiter: RateLimiter? = nil, logger: Logger) {
        self.redis = redis
        self.doneTTL = doneTTL
        self.inFlightTTL = inFlightTTL
        self.limiter = limiter
        self.logger = logger
        self.doneMarks = DoneMarkQueue(capacity: 100_000, batchSize: 1_000) { _, keys in
            do throws(RedisError) {
                _ = try await redis.evaluate(Self.doneScript, keys: keys, arguments: [RESPArgument(Int(doneTTL.components.seconds))])
            } catch {
                Self.fallback(error, logger: logger)
            }
        }
    }

    /// The callback's rate limit and, if it admits, the claim of its events, in one round trip
    /// (``limitedClaimScript``): a callback the limit denies claims nothing.
    ///
    /// The call waits for Redis as long as any command (`redis.command_timeout`), not the limit's
    /// 5 ms budget: the callback needs the claim's answer anyway. When Redis fails or misses it,
    /// the limit is decided locally and the claim is unknown, so the callback goes on to Postgres,
    /// which decides duplicates. If the local decision then denies, a claim the late script may
    /// have taken is left to its lease (`inFlightTTL`): deleting it could delete another
    /// delivery's claim or a done mark instead, and might even reach Redis before the script.
    public func claim(_ events: [PaymentEvent], limitedAs subject: RateLimitSubject) async -> WebhookAdmission {
        guard let limiter else { return .admitted(await claim(events), .unlimited) }
        let followOn = events.isEmpty ? nil : RateLimiter.FollowOn(script: Self.limitedClaimScript, keys: events.map(\.key.redisKey), arguments: [inFlightLease])
        let (verdict, answer) = await limiter.check(subject, then: followOn)
        guard verdict.admitted else { return .denied(verdict) }
        switch answer {
        case .answered(let reply):
            do throws(RedisError) {
                return .admitted(try Self.claim(from: reply), verdict)
            } catch {
                fallback(error)
                return .admitted(.claimed, verdict)
            }
        case .unknown(let error):
            fallback(error)
            return .admitted(.claimed, verdict)
        case .notRun:
            // No rule applies (or no events): Redis was not asked about the limit.
            return .admitted(await claim(events), verdict)
        }
    }

    /// Claims every event of a callback in one round trip (``claimScript``), atomically: either
    /// each event not yet done is now ours, or one is in flight elsewhere and nothing is claimed.
    public func claim(_ events: [PaymentEvent]) async -> WebhookClaim {
        guard !events.isEmpty else { return .claimed }
        do throws(RedisError) {
            let reply = try await redis.evaluate(Self.claimScript, keys: events.map(\.key.redisKey), arguments: [inFlightLease])
            return try Self.claim(from: reply)
        } catch {
            fallback(error)
            return .claimed
        }
    }

    /// Queues the events' done marks (for `doneTTL`) without waiting for them: they are written in
    /// one script call with whatever else is queued (``DoneMarkQueue``).
    public func queueDone(_ events: [PaymentEvent]) {
        for (tenant, events) in Dictionary(grouping: events, by: \.key.tenant) {
            doneMarks.add(events.map(\.key.redisKey), slot: tenant)
        }
    }

    /// After the commit: ``queueDone(_:)``, returning once the marks are written (or their write
    /// failed). The answer waits for them, so a provider's retry never finds its own claim still
    /// "in flight"; callbacks that committed together still share one call.
    public func markDone(_ events: [PaymentEvent]) async {
        queueDone(events)
        await doneMarks.written()
    }

    private var inFlightLease: RESPArgument { RESPArgument(Int(inFlightTTL.components.seconds * 1000)) }

    private static func claim(from reply: RESPValue) throws(RedisError) -> WebhookClaim {
        switch reply.string {
        case "all_done": return .allDone
        case "in_flight": return .inFlight
        case "claimed": return .claimed
        default: throw RedisError.unexpectedReply("dedup claim answered \(reply)")
        }
    }

    /// `claim(keys, args)`: a callback's dedup keys (one tenant: they share the `{tenant}` hash
    /// slot) and args[1], the in-flight lease in ms. Answers `claimed` (every key not done is now
    /// held by this call; a key holding anything else is left to Postgres), `all_done`, or
    /// `in_flight` (another delivery holds one: the keys this call had claimed are given back).
    static let claimFunction = (name: "claim", definition: """
        local function claim(keys, args)
          local claimed, done = {}, 0
          for _, key in ipairs(keys) do
            if redis.call('SET', key, 'processing', 'NX', 'PX', args[1]) then
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
          if done == #keys then return 'all_done' end
          return 'claimed'
        end
        """)

    /// ``claimFunction`` alone. KEYS: the dedup keys; ARGV[1]: the in-flight lease in ms.
    public static let claimScript = RedisScript(claimFunction.definition + "\nreturn claim(KEYS, ARGV)\n")

    /// The rate limit (`RateLimiter.script`), then ``claimFunction`` if it admits: KEYS are the
    /// rules' keys then the dedup keys, ARGV the rules' arguments then the lease.
    public static let limitedClaimScript = RateLimiter.script(then: claimFunction)

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
    public static let scripts = [claimScript, limitedClaimScript, doneScript]

    private func fallback(_ error: RedisError) {
        Self.fallback(error, logger: logger)
    }

    private static func fallback(_ error: RedisError, logger: Logger) {
        Counter(label: "tollgate_dedup_redis_fallbacks_total", dimensions: [("error", error.metricLabel)]).increment()
        logger.warning("redis dedup unavailable; relying on postgres", metadata: ["error": "\(error)"])
    }
}

/// A callback's rate limit and claim, decided in one round trip.
public enum WebhookAdmission: Sendable {
    /// The limit denies: nothing was claimed.
    case denied(RateLimitVerdict)
    case admitted(WebhookClaim, RateLimitVerdict)
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
