import HTTPTypes
import TollgateRedisStores
import Hummingbird
import TollgateCore

/// The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) and the 429 answer.
enum RateLimitHeaders {
    static let policy = HTTPField.Name("RateLimit-Policy")!
    static let state = HTTPField.Name("RateLimit")!

    static func fields(_ verdict: RateLimitVerdict) -> [(name: String, value: String)] {
        guard let rule = verdict.limiting else { return [] }
        return [
            ("RateLimit-Policy", "\"\(rule.name)\";q=\(rule.quota);w=\(rule.windowSeconds)"),
            ("RateLimit", "\"\(rule.name)\";r=\(rule.remaining);t=\(rule.resetSeconds)"),
        ]
    }

    static func apply(_ verdict: RateLimitVerdict, to response: inout Response) {
        for (name, value) in fields(verdict) {
            response.headers[HTTPField.Name(name)!] = value
        }
    }

    static func tooManyRequests(_ verdict: RateLimitVerdict) -> Problem {
        let name = verdict.limiting?.name ?? "unknown"
        return Problem(
            .tooManyRequests,
            detail: "Rate limit '\(name)' exceeded; retry after \(verdict.retryAfterSeconds) s.",
            extensions: ["rule": .string(name)],
            headers: [("Retry-After", String(verdict.retryAfterSeconds))] + fields(verdict)
        )
    }
}
