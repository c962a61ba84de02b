import Crypto
import Foundation
import TollgateCore

/// Xsolla: `Authorization: Signature <40 hex>`, the plain SHA-1 (not an HMAC) of the raw body
/// followed by the project secret. No timestamp; replay protection is deduplication.
public struct XsollaSignatureScheme: SignatureScheme {
    public let provider = Provider.xsolla
    let secrets: [Secret]

    public init(secrets: [Secret]) {
        self.secrets = secrets
    }

    public func verify(_ request: SignedRequest, now: Date) async throws(VerificationFailure) {
        guard !secrets.isEmpty else { throw .noUsableSecret }
        guard let header = request.header("Authorization") else { throw .missingHeader }
        let prefix = "Signature "
        guard header.hasPrefix(prefix),
              let signature = Encoding.hexDecode(header.dropFirst(prefix.count)),
              signature.count == Insecure.SHA1.byteCount
        else { throw .malformedHeader }
        let matched = secrets.contains { secret in
            var hasher = Insecure.SHA1()
            hasher.update(data: request.body)
            hasher.update(data: Array(secret.exposedValue.utf8))
            return Encoding.constantTimeEquals(signature, Array(hasher.finalize()))
        }
        guard matched else { throw .signatureMismatch }
    }
}

extension XsollaSignatureScheme {
    /// The mirror of ``verify(_:now:)``: SHA-1 of the body followed by the secret.
    static func sign(_ body: [UInt8], secret: Secret) -> [(name: String, value: String)] {
        var hasher = Insecure.SHA1()
        hasher.update(data: body)
        hasher.update(data: Array(secret.exposedValue.utf8))
        return [("Authorization", "Signature \(hasher.finalize().hexEncoded)")]
    }
}
