/// The id that ties one request's log lines, response and upstream calls together.
///
/// A caller's `X-Request-Id` is kept when it is short printable ASCII (so it cannot inject log
/// structure or grow without bound); otherwise a fresh random id is made.
public struct RequestID: Sendable, Hashable, CustomStringConvertible {
    public let value: String

    /// The longest caller-supplied id we keep.
    public static let maximumLength = 128

    /// Accepts a caller's id if it is 1...128 characters of visible ASCII, else nil.
    public init?(accepting candidate: String) {
        guard (1...Self.maximumLength).contains(candidate.utf8.count),
              candidate.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        self.value = candidate
    }

    /// A new random id: 16 random bytes as 32 lowercase hex digits.
    public init<Generator: RandomNumberGenerator>(using generator: inout Generator) {
        var hex = ""
        hex.reserveCapacity(32)
        for _ in 0..<2 {
            let word = generator.next() as UInt64
            let digits = String(word, radix: 16)
            hex += String(repeating: "0", count: 16 - digits.count) + digits
        }
        self.value = hex
    }

    public init() {
        var generator = SystemRandomNumberGenerator()
        self.init(using: &generator)
    }

    /// The caller's id when acceptable, otherwise a new one.
    public static func accepting(_ candidate: String?) -> RequestID {
        candidate.flatMap(RequestID.init(accepting:)) ?? RequestID()
    }

    public var description: String { value }
}
