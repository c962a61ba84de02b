import Crypto
import Foundation
import TollgateCore

/// Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 over `t.body` keyed
/// with the whole `whsec_...` string. Only `v1` counts (a lone `v0` fails).
/// Stricter than the SDK: a timestamp too far in the future fails as well as a stale one.
public struct StripeSignatureScheme: SignatureScheme {
    public let provider = Provider.stripe
    let secrets: [Secret]
    let window: TimestampWindow

    public init(secrets: [Secret], tolerance: Duration = .seconds(300)) {
        self.secrets = secrets
        self.window = TimestampWindow(tolerance: tolerance)
    }

    public func verify(_ request: SignedRequest, now: Date) async throws(VerificationFailure) {
        guard !secrets.isEmpty else { throw .noUsableSecret }
        guard let header = request.header("Stripe-Signature") else { throw .missingHeader }
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        try forEachHeaderField(header, separator: UInt8(ascii: ","), trimmingKeys: true) { (key, value) throws(VerificationFailure) in
            switch key {
            case "t":
                guard timestamp == nil, let parsed = TimestampWindow.parse(value) else { throw .malformedHeader }
                timestamp = parsed
            case "v1":
                // A v1 that is not hex can match nothing; keep looking at the others.
                if let bytes = Encoding.hexDecode(value), bytes.count == SHA256.byteCount { signatures.append(bytes) }
            default:
                break
            }
        }
        guard let timestamp else { throw .malformedHeader }
        guard !signatures.isEmpty else { throw .noSignature }
        let signed = Array("\(timestamp).".utf8) + request.body
        guard Encoding.anySecretSigns(signed, secrets: secrets, matching: signatures) else { throw .signatureMismatch }
        try window.check(timestamp, now: now)
    }
}

extension StripeSignatureScheme {
    /// The mirror of ``verify(_:now:)``: the header Stripe sends for `body` at `timestamp`.
    static func sign(_ body: [UInt8], secret: Secret, timestamp: Int64) -> [(name: String, value: String)] {
        let mac = Encoding.hmacSHA256(key: Array(secret.exposedValue.utf8), Array("\(timestamp).".utf8) + body)
        return [("Stripe-Signature", "t=\(timestamp),v1=\(mac.hexEncoded)")]
    }
}
