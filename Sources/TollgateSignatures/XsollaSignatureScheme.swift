import Crypto
import Foundation
import TollgateCore

/// Xsolla: `Authorization: Signature <40 hex>`, the plain SHA-1 (not an HMAC) of the raw body
/// followed by the project secret. No timestamp; replay protection is deduplication.
public struct XsollaSignatureScheme: SignatureScheme {
    public let provider = "xsolla"
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
