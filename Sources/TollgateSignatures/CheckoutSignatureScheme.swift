import Crypto
import Foundation
import TollgateCore

/// Checkout.com: `Cko-Signature` is the hex HMAC-SHA256 of the raw body keyed with the
/// configured signature key. If an `Authorization` value is configured for the source, it must
/// match too. No timestamp; delivery is at least once, so deduplication does the rest.
public struct CheckoutSignatureScheme: SignatureScheme {
    public let provider = Provider.checkout
    let secrets: [Secret]
    let authorization: Secret?

    public init(secrets: [Secret], authorization: Secret? = nil) {
        self.secrets = secrets
        self.authorization = authorization
    }

    public func verify(_ request: SignedRequest, now: Date) async throws(VerificationFailure) {
        guard !secrets.isEmpty else { throw .noUsableSecret }
        if let authorization {
            guard let sent = request.header("Authorization") else { throw .missingHeader }
            guard Encoding.constantTimeEquals(Array(sent.utf8), Array(authorization.exposedValue.utf8)) else { throw .signatureMismatch }
        }
        guard let header = request.header("Cko-Signature") else { throw .missingHeader }
        guard let signature = Encoding.hexDecode(header), signature.count == SHA256.byteCount else { throw .malformedHeader }
        guard Encoding.anySecretSigns(request.body, secrets: secrets, matching: [signature]) else { throw .signatureMismatch }
    }
}

extension CheckoutSignatureScheme {
    /// The mirror of ``verify(_:now:)``: the body's HMAC, and the fixed `Authorization` if the account sends one.
    static func sign(_ body: [UInt8], secret: Secret, authorization: Secret?) -> [(name: String, value: String)] {
        var headers = [("Cko-Signature", Encoding.hmacSHA256(key: Array(secret.exposedValue.utf8), body).hexEncoded)]
        if let authorization { headers.append(("Authorization", authorization.exposedValue)) }
        return headers
    }
}
