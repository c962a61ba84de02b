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
        // Stored as the game wrote it, less what cannot be stored; nothing left is "declined".
        let reason = (decline["reason"] as? String)?.storable(limit: 200) ?? ""
        return reason.isEmpty ? "declined" : reason
    }

    /// `Retry-After` as seconds or an HTTP date (RFC 9110 section 10.2.3); nil if neither, or in the past.
    static func retryAfter(_ text: String, now: Date) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Int64(trimmed) { return seconds >= 0 ? .seconds(min(seconds, 31_536_000)) : nil }
        guard let date = imfFixdate(trimmed) else { return nil }
        let seconds = date.timeIntervalSince(now)
        return seconds > 0 ? .seconds(min(seconds, 31_536_000)) : nil
    }

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 section 5.6.7), read byte by byte:
    /// Foundation's DateFormatter traps on some non-ASCII input (the fuzzer found one), and a
    /// game's header must never stop the edge. The obsolete date forms are not accepted.
    static func imfFixdate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 29, bytes[3] == UInt8(ascii: ","), bytes[4] == 0x20, bytes[7] == 0x20, bytes[11] == 0x20, bytes[16] == 0x20,
              bytes[19] == UInt8(ascii: ":"), bytes[22] == UInt8(ascii: ":"), bytes[25] == 0x20,
              bytes[26...28].elementsEqual("GMT".utf8) else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let month = months.firstIndex(where: { $0.utf8.elementsEqual(bytes[8..<11]) }).map({ $0 + 1 }),
              let day = number(5..<7), let year = number(12..<16), let hour = number(17..<19), let minute = number(20..<22),
              let second = number(23..<25), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
        let shifted = month <= 2 ? year - 1 : year
        let era = shifted / 400
        let yearOfEra = shifted - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Date(timeIntervalSince1970: Double(days * 86_400 + hour * 3600 + minute * 60 + second))
    }
}
