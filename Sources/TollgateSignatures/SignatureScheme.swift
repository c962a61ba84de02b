import Foundation
import TollgateCore

/// The bytes a provider's signature covers: the request headers and the exact raw body.
public struct SignedRequest: Sendable {
    /// Header values by lower-cased name; a repeated header keeps its first value.
    public let headers: [String: String]
    public let body: [UInt8]

    public init(headers: [(name: String, value: String)], body: [UInt8]) {
        var map: [String: String] = [:]
        for (name, value) in headers where map[name.lowercased()] == nil {
            map[name.lowercased()] = value
        }
        self.headers = map
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Why a callback failed verification. The raw values are the `reason` label of
/// `tollgate_webhook_verification_failures_total`: a small, fixed set that never holds a secret.
public enum VerificationFailure: String, Error, Sendable, CaseIterable {
    /// A header the scheme needs is absent.
    case missingHeader = "missing_header"
    /// A header is present but cannot be parsed (no timestamp, bad number, wrong layout).
    case malformedHeader = "malformed_header"
    /// The header parses but holds no signature of a version this scheme accepts.
    case noSignature = "no_signature"
    /// No configured secret produces any of the signatures sent.
    case signatureMismatch = "signature_mismatch"
    /// The signed timestamp is older than the tolerance.
    case timestampTooOld = "timestamp_too_old"
    /// The signed timestamp is further in the future than the tolerance.
    case timestampInFuture = "timestamp_in_future"
    /// The body must be parsed to verify (Adyen items) and cannot be.
    case malformedBody = "malformed_body"
    /// The source has no usable secret configured: fail closed.
    case noUsableSecret = "no_usable_secret"
    /// A certificate-signed callback (Apple): the signing algorithm is not the one the provider uses.
    case unsupportedAlgorithm = "unsupported_algorithm"
    /// The certificate chain is absent, does not verify to a configured root, or is not the
    /// provider's kind of certificate.
    case untrustedCertificate = "untrusted_certificate"
    /// Authentic, but signed for someone else: another app or environment.
    case wrongRecipient = "wrong_recipient"
    /// The provider's certificate could not be fetched now (PayPal): the callback is refused and
    /// the provider retries; nothing was judged forged.
    case certificateUnavailable = "certificate_unavailable"
    /// A signed transmission seen before with another body (PayPal: a signature lifted onto a
    /// body forged to match the CRC-32 it covers).
    case replayedTransmission = "replayed_transmission"
}

/// One provider's signature scheme, configured with a source's secrets.
///
/// Verification is pure: it reads the request and the clock it is given, nothing else. A scheme
/// that needs certificates (PayPal, Apple) receives a certificate source at initialization, which
/// is why verification is `async`.
public protocol SignatureScheme: Sendable {
    /// The provider whose scheme this is (its raw value names it in logs and metric labels).
    var provider: Provider { get }

    /// Returns normally if `request` is authentic at `now`; otherwise throws the precise reason.
    func verify(_ request: SignedRequest, now: Date) async throws(VerificationFailure)
}

/// Checks a signed unix timestamp against a tolerance in both directions.
struct TimestampWindow: Sendable {
    var tolerance: Duration

    func check(_ timestamp: Int64, now: Date) throws(VerificationFailure) {
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        let tolerance = tolerance.components.seconds
        if timestamp < nowSeconds - tolerance { throw .timestampTooOld }
        if timestamp > nowSeconds + tolerance { throw .timestampInFuture }
    }

    /// Parses a header's timestamp field: decimal digits only, at most 12 of them.
    static func parse(_ text: Substring) -> Int64? {
        guard !text.isEmpty, text.utf8.count <= 12, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return Int64(text)
    }
}

/// The `key=value` fields of a signature header (Stripe's `t=...,v1=...`, Paddle's
/// `ts=...;h1=...`), found on the header's UTF-8 bytes: splitting the `String` by `Character`
/// was 4.5% of a Stripe callback's instructions (callgrind). Empty fields are skipped; a field
/// without `=` is a malformed header. Keys are compared as they are (`trimmingKeys`: without
/// the spaces and tabs around them).
func forEachHeaderField(
    _ header: String, separator: UInt8, trimmingKeys: Bool = false,
    _ body: (_ key: Substring, _ value: Substring) throws(VerificationFailure) -> Void
) throws(VerificationFailure) {
    let utf8 = header.utf8
    var fieldStart = utf8.startIndex
    while fieldStart < utf8.endIndex {
        let fieldEnd = utf8[fieldStart...].firstIndex(of: separator) ?? utf8.endIndex
        defer { fieldStart = fieldEnd < utf8.endIndex ? utf8.index(after: fieldEnd) : fieldEnd }
        guard fieldStart < fieldEnd else { continue }
        guard let equals = utf8[fieldStart..<fieldEnd].firstIndex(of: UInt8(ascii: "=")) else { throw .malformedHeader }
        var keyStart = fieldStart, keyEnd = equals
        if trimmingKeys {
            let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            while keyStart < keyEnd, blank(utf8[keyStart]) { keyStart = utf8.index(after: keyStart) }
            while keyStart < keyEnd, blank(utf8[utf8.index(before: keyEnd)]) { keyEnd = utf8.index(before: keyEnd) }
        }
        try body(header[keyStart..<keyEnd], header[utf8.index(after: equals)..<fieldEnd])
    }
}
