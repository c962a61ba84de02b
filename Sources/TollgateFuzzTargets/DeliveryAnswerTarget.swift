import Foundation
import TollgateCore
import TollgateFulfilment
import TollgateOrders

/// A game backend's answer to a delivery (`delivery-answer`): `DeliveryVerdict.classify` and
/// `AttemptRecord.next` on what any game may send back.
///
/// The first byte picks the delivery's type (`FulfilmentEvent.allCases`), the second and third the
/// status (big-endian, modulo 600), then `Name: value` lines, a blank line and the body.
/// Invariants: 2xx is always delivered and only 2xx; 410 always disables; a decline only for a
/// grant and a 4xx other than 408/429, its reason at most 200 printable characters; a Retry-After
/// delay is never negative nor above a year; the fate after the schedule's last attempt is never
/// another retry.
enum DeliveryAnswerTarget {
    static let schedule = RetrySchedule.svix
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    static let target = FuzzTarget("delivery-answer", "a game's answer to a delivery -> delivered, declined, gone or retry; only 2xx delivers, only a grant's 4xx declines") { bytes throws(FuzzInvariantViolation) in
        guard bytes.count >= 3 else { return }
        let event = FulfilmentEvent.allCases[Int(bytes[0]) % FulfilmentEvent.allCases.count]
        let status = (Int(bytes[1]) << 8 | Int(bytes[2])) % 600
        let (headers, body) = FuzzInput.request(bytes[3...])
        let verdict = DeliveryVerdict.classify(status: status, headers: headers, body: body, event: event, now: now)
        func violation(_ message: String) -> FuzzInvariantViolation { FuzzInvariantViolation(target: "delivery-answer", message: message) }
        switch verdict {
        case .delivered:
            guard (200..<300).contains(status) else { throw violation("\(status) counted as delivered") }
        case .gone:
            guard status == 410 else { throw violation("\(status) disabled the endpoint") }
        case .declined(let reason):
            guard event.grants, (400..<500).contains(status), ![408, 410, 429].contains(status) else {
                throw violation("\(event.rawValue) answered \(status) counted as a declined grant")
            }
            guard reason.unicodeScalars.count <= 200, !reason.isEmpty,
                  reason.unicodeScalars.allSatisfy({ $0 == "\n" || $0 == "\t" || $0.properties.generalCategory != .control }) else {
                throw violation("a decline reason that cannot be stored as it is: \(reason.debugDescription)")
            }
        case .retry(let after):
            if (200..<300).contains(status) || status == 410 { throw violation("\(status) retried") }
            if let after, after < .zero || after > .seconds(31_536_000) { throw violation("Retry-After of \(after)") }
        }
        var random = SplitMix64(seed: UInt64(bytes.count))
        if case .retry = AttemptRecord.next(after: verdict, attempt: schedule.attempts, schedule: schedule, random: &random) {
            throw violation("the schedule's last attempt was retried")
        }
    }
}
