import _CryptoExtras
import Crypto
import Foundation
import TollgateCore

/// Google Play real-time developer notifications, pushed by Cloud Pub/Sub.
///
/// The push's `Authorization: Bearer` token is what is signed (``GooglePushTokenVerifier``): it
/// proves that Pub/Sub sent the request for the source's subscription (audience) as its service
/// account. The token does not cover the body, so the body is held to the source too: its
/// notification must be for one of the source's apps (`packageName`; several apps of one
/// developer account may publish to one topic), or the push is refused as meant for another
/// recipient. A push whose notification cannot be read is refused rather than guessed at (Pub/Sub
/// "payload unwrapping", which sends the notification bare, is not supported).
public struct GooglePlaySignatureScheme: SignatureScheme {
    public var provider: Provider { .googlePlay }
    /// Nil when the source has no usable trust settings: every callback fails closed.
    let verifier: GooglePushTokenVerifier?
    let packageNames: Set<String>

    public init(verifier: GooglePushTokenVerifier?, packageNames: Set<String>) {
        self.verifier = verifier
        self.packageNames = packageNames
    }

    public func verify(_ request: SignedRequest, now: Date) async throws(VerificationFailure) {
        guard let verifier else { throw .noUsableSecret }
        do {
            _ = try await verifier.verify(authorization: request.header("authorization"), now: now)
        } catch {
            throw Self.failure(error)
        }
        guard let push = GooglePlayPush(body: request.body), let notification = push.notification else { throw .malformedBody }
        guard let package = notification["packageName"] as? String, packageNames.contains(package) else { throw .wrongRecipient }
    }

    static func failure(_ error: GooglePushTokenFailure) -> VerificationFailure {
        switch error {
        case .missingToken: .missingHeader
        case .malformed: .malformedHeader
        case .unsupportedAlgorithm: .unsupportedAlgorithm
        // Not signed by any key Google publishes (or published): as good as unsigned.
        case .unknownKey, .signatureMismatch: .signatureMismatch
        // Signed by Google for someone: another issuer, an unverified account.
        case .wrongIssuer, .emailNotVerified: .untrustedCertificate
        case .wrongAudience, .wrongEmail: .wrongRecipient
        case .expired: .timestampTooOld
        case .notYetValid: .timestampInFuture
        }
    }

    /// The push Pub/Sub sends for `notification` (a DeveloperNotification, as JSON; `packageName`
    /// filled in where absent) with `messageId`, and the token `key` signs for `audience` and
    /// `email` at `timestamp` (valid an hour, as Google's are). Without a key a throwaway one
    /// signs: what a forger has.
    public static func sign(_ notification: [UInt8], messageID: String, key: GooglePushSigningKey?, audience: String, email: String,
                            packageName: String, subscription: String, timestamp: Int64) -> WebhookSigner.SignedCallback {
        var notification = notification
        if var object = (try? JSONSerialization.jsonObject(with: Data(notification))) as? [String: Any], object["packageName"] == nil {
            object["packageName"] = packageName
            notification = Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
        }
        let push: [String: Any] = [
            "message": [
                "data": Data(notification).base64EncodedString(), "messageId": messageID, "message_id": messageID,
                "publishTime": ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(timestamp))),
            ],
            "subscription": subscription,
        ]
        let body = Array((try? JSONSerialization.data(withJSONObject: push, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
        let claims = GooglePushClaims(iss: "https://accounts.google.com", aud: audience, email: email, email_verified: true,
                                      exp: timestamp + 3600, iat: timestamp, sub: "112233445566778899000")
        let token = (key ?? throwawayKey).token(claims)
        return WebhookSigner.SignedCallback(headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(token)")], body: body)
    }

    /// A key no source trusts (made once per process: an RSA key takes a moment to make).
    static let throwawayKey: GooglePushSigningKey = GooglePushSigningKey(privateKey: (try? _RSA.Signing.PrivateKey(keySize: .bits2048)))
}

/// An RSA key that signs Pub/Sub-style push tokens for development tenants (`tollgate trigger`,
/// the load generator): Google holds the real ones. Its `kid` is derived from the key, so the
/// JWKS file a development source trusts names it without further configuration.
public struct GooglePushSigningKey: Sendable {
    let privateKey: _RSA.Signing.PrivateKey?
    public let kid: String

    init(privateKey: _RSA.Signing.PrivateKey?) {
        self.privateKey = privateKey
        self.kid = privateKey.map { Self.kid(for: $0.publicKey) } ?? "none"
    }

    /// Reads a PEM RSA private key (PKCS#1 or PKCS#8) of at least 2048 bits.
    public init(pem: String) throws(GoogleSigningKeyError) {
        // Read unchecked, so a short key is named as such (the checked reader refuses it as unreadable).
        guard let key = try? _RSA.Signing.PrivateKey(unsafePEMRepresentation: pem) else { throw .notAnRSAPrivateKey }
        guard key.keySizeInBits >= 2048 else { throw .tooShort }
        self.init(privateKey: key)
    }

    /// A new 2048-bit key and its PEM (PKCS#8), for development tenants and tests.
    public static func generate() throws -> (key: GooglePushSigningKey, pem: String) {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        return (GooglePushSigningKey(privateKey: key), key.pemRepresentation)
    }

    /// `dev-` and the first 8 bytes of SHA-256 of the modulus, in hex (certs/make-dev-certs.sh
    /// computes the same for the JWKS it writes).
    static func kid(for key: _RSA.Signing.PublicKey) -> String {
        guard let modulus = try? key.getKeyPrimitives().modulus else { return "none" }
        return "dev-" + Array(SHA256.hash(data: modulus).prefix(8)).hexEncoded
    }

    /// The public key as a JWKS document (what a source trusting this key reads).
    public var jwks: String {
        guard let primitives = try? privateKey?.publicKey.getKeyPrimitives() else { return #"{"keys":[]}"# }
        return #"{"keys":[{"kty":"RSA","alg":"RS256","use":"sig","kid":"\#(kid)","n":"\#(Base64.encodeURL(Array(primitives.modulus)))","e":"\#(Base64.encodeURL(Array(primitives.publicExponent)))"}]}"#
    }

    /// An RS256 token with `claims`, named by this key's `kid`.
    func token(_ claims: GooglePushClaims) -> String {
        let header = Base64.encodeURL(Array(#"{"alg":"RS256","kid":"\#(kid)","typ":"JWT"}"#.utf8))
        let payload = Base64.encodeURL(Array((try? JSONEncoder().encode(claims)) ?? Data()))
        let input = header + "." + payload
        let signature = (try? privateKey?.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5).rawRepresentation) ?? Data()
        return input + "." + Base64.encodeURL(Array(signature))
    }
}

public enum GoogleSigningKeyError: Error, CustomStringConvertible {
    case notAnRSAPrivateKey, tooShort

    public var description: String {
        switch self {
        case .notAnRSAPrivateKey: "not a PEM RSA private key"
        case .tooShort: "an RSA key of fewer than 2048 bits (Google's keys, and the edge's minimum, are 2048)"
        }
    }
}
