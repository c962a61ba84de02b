import TollgateRedisStores

/// What routes need from the rate limiter: a verdict for a request. ``RateLimiter`` is the real
/// one (Redis, with the in-process fallback); the in-process route tests use fakes.
protocol RateLimiting: Sendable {
    func check(_ subject: RateLimitSubject) async -> RateLimitVerdict
}

extension RateLimiting {
    /// ``check(_:)`` for a route: the verdict if admitted, otherwise the 429 problem naming the rule.
    func admit(_ subject: RateLimitSubject) async throws -> RateLimitVerdict {
        let verdict = await check(subject)
        guard verdict.admitted else { throw RateLimitHeaders.tooManyRequests(verdict) }
        return verdict
    }
}

extension RateLimiter: RateLimiting {}
