import Foundation
import Testing
import TollgateCore

/// The fast timestamp reader must agree with Foundation's ISO 8601 formatter on every form the
/// providers send, and refuse what is not a timestamp.
@Suite struct ISO8601TimestampTests {
    static let forms = [
        "2026-11-25T10:00:00Z", "2026-11-25T10:00:00+00:00", "2025-01-01T01:00:00+01:00", "2019-05-23T08:25:51-05:30",
        "2024-02-29T23:59:59Z", "1999-12-31T23:59:59+0100", "2000-03-01T00:00:00Z", "1970-01-01T00:00:00Z", "2100-02-28T12:34:56Z",
    ]

    @Test(arguments: forms)
    func agreesWithFoundation(_ text: String) throws {
        let expected = try #require(ISO8601DateFormatter().date(from: text))
        #expect(ISO8601Timestamp.parse(text) == expected)
    }

    @Test func fractionsAreKept() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let text = "2024-04-12T10:18:49.621Z"
        let parsed = try #require(ISO8601Timestamp.parse(text))
        #expect(abs(parsed.timeIntervalSince1970 - formatter.date(from: text)!.timeIntervalSince1970) < 0.000_5)
        let micro = try #require(ISO8601Timestamp.parse("2024-04-12T10:18:49.621022Z"))
        #expect(abs(micro.timeIntervalSince1970 - 1_712_917_129.621022) < 0.000_01)
    }

    @Test(arguments: ["", "2026-11-25", "2026-11-25T10:00:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-25T24:00:00Z",
                      "2026-11-25T10:00:00.Z", "2026-11-25T10:00:00+1", "2026-11-25T10:00:00Zjunk", "20261125T100000Z", "2026-1x-25T10:00:00Z"])
    func refusesWhatIsNotATimestamp(_ text: String) {
        #expect(ISO8601Timestamp.parse(text) == nil)
    }

    @Test func formatsAsFoundationDoesAndRoundTrips() {
        for seconds in [0.0, 951_782_400, 1_795_607_437, 4_107_542_399, 1_709_251_199] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(ISO8601Timestamp.format(date) == ISO8601DateFormatter().string(from: date))
            #expect(ISO8601Timestamp.parse(ISO8601Timestamp.format(date)) == date)
        }
    }
}
