import Crypto
import Foundation
import TollgateCore

/// Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]`, HMAC-SHA256 over
/// `ts:body` keyed with the endpoint secret. Unknown keys are ignored. Tolerance defaults to 5 s
/// each way, as in Paddle's SDK, and is configurable per source.
public struct PaddleSignatureScheme: SignatureScheme {
    public let provider = Provider.paddle
    let secrets: [Secret]
    let window: TimestampWindow

    public init(secrets: [Secret], tolerance: Duration = .seconds(5)) {
        self.secrets = secrets
        self.window = TimestampWindow(tolerance: tolerance)
    }

    public func verify(_ request: SignedRequest, now: Date) async throws(VerificationFailure) {
        guard !secrets.isEmpty else { throw .noUsableSecret }
        guard let header = request.header("Paddle-Signature") else { throw .missingHeader }
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        try forEachHeaderField(header, separator: UInt8(ascii: ";")) { (key, value) throws(VerificationFailure) in
            switch key {
            case "ts":
                guard timestamp == nil, let parsed = TimestampWindow.parse(value) else { throw .malformedHeader }
                timestamp = parsed
            case "h1":
                if let bytes = Encoding.hexDecode(value), bytes.count == SHA256.byteCount { signatures.append(bytes) }
            default:
                break
            }
        }
        guard let timestamp else { throw .malformedHeader }
        guard !signatures.isEmpty else { throw .noSignature }
        try window.check(timestamp, now: now)
        let signed = Array("\(timestamp):".utf8) + request.body
        guard Encoding.anySecretSigns(signed, secrets: secrets, matching: signatures) else { throw .signatureMismatch }
    }
}

extension PaddleSignatureScheme {
    /// The mirror of ``verify(_:now:)``: the header Paddle sends for `body` at `timestamp`.
    static func sign(_ body: [UInt8], secret: Secret, timestamp: Int64) -> [(name: String, value: String)] {
        let mac = Encoding.hmacSHA256(key: Array(secret.exposedValue.utf8), Array("\(timestamp):".utf8) + body)
        return [("Paddle-Signature", "ts=\(timestamp);h1=\(mac.hexEncoded)")]
    }
}
