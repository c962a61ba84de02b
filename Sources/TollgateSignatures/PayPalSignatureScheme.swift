import _CryptoExtras
import Crypto
import Foundation
import SwiftASN1
import TollgateCore
import X509

/// PayPal webhooks as a source verifies them: ``PayPalSignatureVerifier`` (the transmission
/// signature under PayPal's certificate, fetched only from PayPal's hosts and chained to a
/// configured root, over the source's own webhook id and the body's CRC-32).
public struct PayPalSignatureScheme: SignatureScheme {
    public var provider: Provider { .paypal }
    /// Nil when the source has no usable trust settings: every callback fails closed.
    let verifier: PayPalSignatureVerifier?

    public init(verifier: PayPalSignatureVerifier?) {
        self.verifier = verifier
    }

    public func verify(_ request: SignedRequest, now: Date) async throws(VerificationFailure) {
        guard let verifier else { throw .noUsableSecret }
        do {
            try await verifier.verify(request, now: now)
        } catch {
            throw Self.failure(error)
        }
    }

    static func failure(_ error: PayPalVerificationFailure) -> VerificationFailure {
        switch error {
        case .missingHeader: .missingHeader
        case .malformedHeader: .malformedHeader
        case .unsupportedAlgorithm: .unsupportedAlgorithm
        // Either way out of the window: a replay, or a clock far off.
        case .stale: .timestampTooOld
        // A certificate from anywhere but PayPal's hosts is a forger's, refused unfetched.
        case .certificateURLRefused, .untrustedCertificate: .untrustedCertificate
        case .certificateUnavailable: .certificateUnavailable
        case .signatureMismatch: .signatureMismatch
        case .replayedTransmission: .replayedTransmission
        }
    }

    /// The headers PayPal sends for `body`: transmission `id` at `timestamp`, signed by
    /// `identity` (nil: a throwaway chain no source trusts, a forger's) for `webhookID`, naming
    /// the identity's certificate at `certificateURL`.
    public static func sign(_ body: [UInt8], identity: PayPalSigningIdentity?, webhookID: String, certificateURL: String,
                            id: String, timestamp: Int64) -> WebhookSigner.SignedCallback {
        let time = ISO8601Timestamp.format(Date(timeIntervalSince1970: Double(timestamp)))
        let signed = PayPalSignatureVerifier.signedString(transmissionID: id, time: time, webhookID: webhookID, body: body)
        let key = (identity ?? throwawayIdentity)?.privateKey
        let signature = (try? key?.signature(for: Data(signed.utf8), padding: .insecurePKCS1v1_5).rawRepresentation) ?? Data()
        return WebhookSigner.SignedCallback(headers: [
            ("Content-Type", "application/json"), ("PAYPAL-TRANSMISSION-ID", id), ("PAYPAL-TRANSMISSION-TIME", time),
            ("PAYPAL-TRANSMISSION-SIG", signature.base64EncodedString()), ("PAYPAL-CERT-URL", certificateURL), ("PAYPAL-AUTH-ALGO", "SHA256withRSA"),
        ], body: body)
    }

    /// A chain no source trusts (made once per process: an RSA key takes a moment to make).
    static let throwawayIdentity: PayPalSigningIdentity? = try? PayPalSigningIdentity.development(sandbox: true)
}

/// An RSA key and the certificates that vouch for it (leaf first, ending in the root), signing
/// webhooks the way PayPal does. Only PayPal holds the real one: this is what development
/// tenants (`tollgate trigger`, the load generator) and the tests sign with, and what a
/// development source serves for PayPal's certificate URL instead of fetching it.
public struct PayPalSigningIdentity: Sendable {
    let privateKey: _RSA.Signing.PrivateKey
    /// DER certificates, leaf first, ending in the root.
    public let chain: [[UInt8]]

    init(privateKey: _RSA.Signing.PrivateKey, chain: [[UInt8]]) {
        self.privateKey = privateKey
        self.chain = chain
    }

    /// The root a source must trust for this identity's signatures.
    public var rootDER: [UInt8] { chain.last ?? [] }

    /// What PayPal's certificate URL serves: the certificates, PEM.
    public var certificatesPEM: String {
        chain.map { PEMDocument(type: "CERTIFICATE", derBytes: $0).pemString }.joined(separator: "\n") + "\n"
    }

    /// Reads a PEM file's text: one RSA private key (PKCS#8 or PKCS#1) and the certificates,
    /// leaf first, ending in the root.
    public init(pem: String) throws(PayPalSigningIdentityError) {
        let documents = (try? PEMDocument.parseMultiple(pemString: pem)) ?? []
        guard let keyDocument = documents.first(where: { $0.discriminator == "PRIVATE KEY" || $0.discriminator == "RSA PRIVATE KEY" }),
              let key = try? _RSA.Signing.PrivateKey(pemRepresentation: keyDocument.pemString) else { throw .noPrivateKey }
        let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }.map(\.derBytes)
        guard certificates.count >= 2, certificates.allSatisfy({ (try? Certificate(derEncoded: $0)) != nil }) else { throw .noChain }
        self.init(privateKey: key, chain: certificates)
    }

    /// The private key and the chain, as ``init(pem:)`` reads them.
    public var pemRepresentation: String { privateKey.pemRepresentation + "\n" + certificatesPEM }

    /// A new root and a leaf named as PayPal's message-verification certificate (live or
    /// sandbox), valid 2020-2050, with the leaf's key. For development tenants and tests; a
    /// production source trusts only the roots its operators configure.
    public static func development(sandbox: Bool, commonName: String? = nil, leafValidity: ClosedRange<Date>? = nil) throws -> PayPalSigningIdentity {
        let rootKey = P256.Signing.PrivateKey()
        let leafKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let longAgo = Date(timeIntervalSince1970: 1_577_836_800), farAhead = Date(timeIntervalSince1970: 2_524_608_000)  // 2020 ... 2050
        let rootName = try DistinguishedName { CommonName("Tollgate Development PayPal Root") }
        let leafName = try DistinguishedName {
            CommonName(commonName ?? (sandbox ? PayPalCertificates.sandboxCommonName : PayPalCertificates.liveCommonName))
        }
        let root = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(rootKey.publicKey), notValidBefore: longAgo, notValidAfter: farAhead,
            issuer: rootName, subject: rootName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil)); KeyUsage(keyCertSign: true) },
            issuerPrivateKey: .init(rootKey))
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: leafValidity?.lowerBound ?? longAgo, notValidAfter: leafValidity?.upperBound ?? farAhead,
            issuer: rootName, subject: leafName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { Critical(BasicConstraints.notCertificateAuthority); KeyUsage(digitalSignature: true) },
            issuerPrivateKey: .init(rootKey))
        func der(_ certificate: Certificate) throws -> [UInt8] {
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        }
        return PayPalSigningIdentity(privateKey: leafKey, chain: [try der(leaf), try der(root)])
    }
}

public enum PayPalSigningIdentityError: Error, Sendable, Equatable, CustomStringConvertible {
    case noPrivateKey, noChain

    public var description: String {
        switch self {
        case .noPrivateKey: "no RSA private key (PEM) of at least 2048 bits"
        case .noChain: "no certificate chain after the key (leaf first, ending in the root)"
        }
    }
}
