import Crypto
import Foundation
import TollgateCore

/// Standard Webhooks (and Svix, which sends the same values as `svix-*` headers).
///
/// Signed bytes are `id.timestamp.body`. `v1` entries are HMAC-SHA256 (base64) keyed with the
/// base64 secret after `whsec_`; `v1a` entries are Ed25519 signatures checked against `whpk_`
/// public keys. The header holds space-separated `version,signature` entries; any match passes.
/// The timestamp must be within the tolerance (5 minutes) both ways.
public struct StandardWebhooksSignatureScheme: SignatureScheme {
    public let provider = Provider.standardWebhooks
    /// `v1` HMAC keys and `v1a` Ed25519 public keys, decoded from the configured secrets.
    let hmacKeys: [[UInt8]]
    let publicKeys: [[UInt8]]
    let window: TimestampWindow

    public init(secrets: [Secret], tolerance: Duration = .seconds(300)) {
        var hmacKeys: [[UInt8]] = []
        var publicKeys: [[UInt8]] = []
        for secret in secrets {
            let text = secret.exposedValue
            if text.hasPrefix("whpk_") {
                if let raw = Base64.decode(text.dropFirst(5)), (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil {
                    publicKeys.append(raw)
                }
            } else if let raw = Base64.decode(text.hasPrefix("whsec_") ? Substring(text.dropFirst(6)) : Substring(text)), !raw.isEmpty {
                hmacKeys.append(raw)
            }
        }
        self.hmacKeys = hmacKeys
        self.publicKeys = publicKeys
        self.window = TimestampWindow(tolerance: tolerance)
    }

    public func verify(_ request: SignedRequest, now: Date) async throws(VerificationFailure) {
        guard !hmacKeys.isEmpty || !publicKeys.isEmpty else { throw .noUsableSecret }
        guard let id = request.header("webhook-id") ?? request.header("svix-id"),
              let timestampText = request.header("webhook-timestamp") ?? request.header("svix-timestamp"),
              let signatureHeader = request.header("webhook-signature") ?? request.header("svix-signature")
        else { throw .missingHeader }
        guard let timestamp = TimestampWindow.parse(Substring(timestampText)) else { throw .malformedHeader }
        try window.check(timestamp, now: now)

        var v1: [[UInt8]] = []
        var v1a: [[UInt8]] = []
        for entry in signatureHeader.split(separator: " ", omittingEmptySubsequences: true) {
            guard let comma = entry.firstIndex(of: ",") else { throw .malformedHeader }
            let signature = Base64.decode(entry[entry.index(after: comma)...])
            switch entry[..<comma] {
            case "v1": if let signature { v1.append(signature) }
            case "v1a": if let signature { v1a.append(signature) }
            default: continue
            }
        }
        guard !v1.isEmpty || !v1a.isEmpty else { throw .noSignature }

        let signed = Array("\(id).\(timestamp).".utf8) + request.body
        for key in hmacKeys where !v1.isEmpty {
            let expected = Array(HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key)))
            if v1.contains(where: { Encoding.constantTimeEquals($0, expected) }) { return }
        }
        for raw in publicKeys where !v1a.isEmpty {
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { continue }
            if v1a.contains(where: { key.isValidSignature($0, for: signed) }) { return }
        }
        throw .signatureMismatch
    }
}

extension StandardWebhooksSignatureScheme {
    /// The mirror of ``verify(_:now:)``: the three headers for message `id` at `timestamp`.
    static func sign(_ body: [UInt8], secret: Secret, timestamp: Int64, id: String) -> [(name: String, value: String)] {
        sign(body, secrets: [secret], timestamp: timestamp, id: id)
    }

    /// Signed with every `whsec_` secret, one `v1` entry each: during a rotation the receiver
    /// accepts whichever of the old and new secrets it holds.
    public static func sign(_ body: [UInt8], secrets: [Secret], timestamp: Int64, id: String) -> [(name: String, value: String)] {
        let signed = Array("\(id).\(timestamp).".utf8) + body
        let entries = secrets.map { secret in
            let text = secret.exposedValue
            let key = Base64.decode(text.hasPrefix("whsec_") ? Substring(text.dropFirst(6)) : Substring(text)) ?? []
            return "v1," + Data(Encoding.hmacSHA256(key: key, signed)).base64EncodedString()
        }
        return [("webhook-id", id), ("webhook-timestamp", "\(timestamp)"), ("webhook-signature", entries.joined(separator: " "))]
    }
}
