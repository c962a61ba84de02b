import Foundation
import TollgateOrders

/// What one attempt's answer means for its delivery. Pure: status, headers and body in.
///
/// Standard Webhooks' conventions: any 2xx is delivered; 410 Gone disables the endpoint (the
/// game says it will never take deliveries there again); everything else is retried on the
/// schedule, 429 and 503 after their `Retry-After`. A game declines a grant by answering a 4xx
/// (422 documented) with `{"decline": {"reason": "..."}}`: the order then needs a human (refund or grant by
/// hand), so the delivery ends there rather than being retried for a day.
public enum DeliveryVerdict: Sendable, Equatable {
    case delivered
    case declined(reason: String)
    case gone
    case retry(retryAfter: Duration?)

    public static func classify(status: Int, headers: [(name: String, value: String)], body: [UInt8], event: FulfilmentEvent,
                                now: Date = Date()) -> DeliveryVerdict {
        switch status {
        case 200..<300: return .delivered
        case 410: return .gone
        case 400..<500 where event.grants && ![408, 429].contains(status):
            if let reason = declineReason(body) { return .declined(reason: reason) }
            fallthrough
        default:
            let header = headers.first { $0.name.lowercased() == "retry-after" }?.value
            return .retry(retryAfter: header.flatMap { retryAfter($0, now: now) })
        }
    }

    /// The reason of a documented decline body, cut to 200 characters; nil if the body is not one.
    static func declineReason(_ body: [UInt8]) -> String? {
        guard body.count <= 64 * 1024, let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
              let decline = object["decline"] as? [String: Any] else { return nil }
        let reason = (decline["reason"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "declined"
        return reason.storable(limit: 200)
    }

    /// `Retry-After` as seconds or an HTTP date (RFC 9110 section 10.2.3); nil if neither, or in the past.
    static func retryAfter(_ text: String, now: Date) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Int64(trimmed) { return seconds >= 0 ? .seconds(min(seconds, 31_536_000)) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        let seconds = date.timeIntervalSince(now)
        return seconds > 0 ? .seconds(min(seconds, 31_536_000)) : nil
    }
}
