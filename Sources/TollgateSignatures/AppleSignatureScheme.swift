import Foundation
import TollgateCore

/// App Store Server Notifications V2: the body is `{"signedPayload": "<JWS>"}`, and the signature
/// is the JWS's own (see ``AppleSignedDataVerifier``). There is no header to read and no shared
/// secret: a callback is authentic when its notification, and every transaction and renewal signed
/// inside it, verify to the source's configured root for its bundle and environment.
///
/// Nested data is verified here, not trusted in the normalizer: a notification Apple signed could
/// otherwise carry a `signedTransactionInfo` someone else made (the outer signature covers only
/// the string, and a replayed genuine notification is deduplicated by its UUID, so the nested
/// transaction is what names the order and the money).
public struct AppleSignatureScheme: SignatureScheme {
    public var provider: Provider { .apple }
    /// Nil when the source has no usable trust settings: every callback fails closed.
    let verifier: AppleSignedDataVerifier?

    public init(verifier: AppleSignedDataVerifier?) {
        self.verifier = verifier
    }

    /// The largest body read: Apple's notifications are a few kilobytes (three certificates per JWS).
    static let maximumSignedPayloadBytes = 64 * 1024

    public func verify(_ request: SignedRequest, now: Date) async throws(VerificationFailure) {
        guard let verifier else { throw .noUsableSecret }
        guard let jws = Self.signedPayload(request.body) else { throw .malformedBody }
        do {
            let notification = try await verifier.verifyNotification(jws)
            if let transaction = notification.data?.signedTransactionInfo { _ = try await verifier.verifyTransaction(transaction) }
            if let renewal = notification.data?.signedRenewalInfo { _ = try await verifier.verifyRenewal(renewal) }
        } catch {
            throw Self.failure(error)
        }
    }

    /// The `signedPayload` of a body, or nil if the body is not that shape.
    public static func signedPayload(_ body: [UInt8]) -> String? {
        guard body.count <= maximumSignedPayloadBytes,
              let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let jws = object["signedPayload"] as? String, !jws.isEmpty else { return nil }
        return jws
    }

    static func failure(_ error: AppleSignedDataFailure) -> VerificationFailure {
        switch error {
        case .malformed: .malformedBody
        case .unsupportedAlgorithm: .unsupportedAlgorithm
        case .missingCertificateChain, .untrustedChain: .untrustedCertificate
        case .signatureMismatch: .signatureMismatch
        case .wrongBundle, .wrongEnvironment: .wrongRecipient
        }
    }

    /// The body the App Store sends for `notification`: a notification payload whose
    /// `data.signedTransactionInfo` / `data.signedRenewalInfo`, when given as JSON objects, are
    /// signed in place first, then the whole is signed and wrapped. `bundleID` and `environment`
    /// fill `data` and the transaction where they are absent (a test may set others).
    public static func sign(_ notification: [UInt8], identity: AppleSigningIdentity, bundleID: String, environment: String) -> [UInt8] {
        guard var object = try? JSONSerialization.jsonObject(with: Data(notification)) as? [String: Any] else {
            return envelope(identity.sign(notification))
        }
        let names = ["bundleId": bundleID, "environment": environment]
        if var data = object["data"] as? [String: Any] {
            data.merge(names) { stated, _ in stated }
            if var transaction = data["signedTransactionInfo"] as? [String: Any] {
                transaction.merge(names) { stated, _ in stated }
                data["signedTransactionInfo"] = identity.sign(json(transaction))
            }
            if var renewal = data["signedRenewalInfo"] as? [String: Any] {
                renewal.merge(["environment": environment]) { stated, _ in stated }
                data["signedRenewalInfo"] = identity.sign(json(renewal))
            }
            object["data"] = data
        }
        return envelope(identity.sign(json(object)))
    }

    private static func json(_ object: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }

    private static func envelope(_ jws: String) -> [UInt8] { json(["signedPayload": jws]) }
}
