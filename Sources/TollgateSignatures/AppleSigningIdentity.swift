import Crypto
import Foundation
import SwiftASN1
import TollgateCore
import X509

/// A key and the chain that vouches for it, signing JWS the way the App Store does: ES256, the
/// chain (leaf, intermediate, root) in the header's `x5c`.
///
/// Only Apple holds the real one. This is what `tollgate trigger`, the load generator and the tests
/// sign with: a chain made by ``development(leafMarker:intermediateMarker:leafValidity:)`` whose
/// root the development tenant trusts in place of Apple Root CA - G3.
public struct AppleSigningIdentity: Sendable {
    public let privateKey: P256.Signing.PrivateKey
    /// DER certificates, leaf first, ending in the root.
    public let chain: [[UInt8]]

    public init(privateKey: P256.Signing.PrivateKey, chain: [[UInt8]]) {
        self.privateKey = privateKey
        self.chain = chain
    }

    /// The root a verifier must trust for this identity's signatures.
    public var rootDER: [UInt8] { chain.last ?? [] }

    /// Reads a PEM file's text: one private key (PKCS#8 or SEC 1) and the certificates, leaf first.
    public init(pem: String) throws(AppleSigningIdentityError) {
        let documents = (try? PEMDocument.parseMultiple(pemString: pem)) ?? []
        guard let keyDocument = documents.first(where: { $0.discriminator == "PRIVATE KEY" || $0.discriminator == "EC PRIVATE KEY" }),
              let key = try? P256.Signing.PrivateKey(pemRepresentation: keyDocument.pemString) else { throw .noPrivateKey }
        let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }.map(\.derBytes)
        guard certificates.count >= 2 else { throw .noChain }
        self.init(privateKey: key, chain: certificates)
    }

    /// The private key and the chain, as ``init(pem:)`` reads them.
    public var pemRepresentation: String {
        ([privateKey.pemRepresentation] + chain.map { PEMDocument(type: "CERTIFICATE", derBytes: $0).pemString }).joined(separator: "\n") + "\n"
    }

    /// A JWS of `payload` (JSON bytes) signed with this identity: what the App Store sends.
    /// `algorithm` and `key` exist for tests of refusals (another algorithm, another key).
    public func sign(_ payload: [UInt8], algorithm: String = "ES256", key: P256.Signing.PrivateKey? = nil) -> String {
        let header: [String: Any] = ["alg": algorithm, "x5c": chain.map { Data($0).base64EncodedString() }]
        let headerBytes = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        let signingInput = Base64.encodeURL(headerBytes) + "." + Base64.encodeURL(payload)
        let signature = (try? (key ?? privateKey).signature(for: Data(signingInput.utf8)).rawRepresentation) ?? Data()
        return signingInput + "." + Base64.encodeURL(signature)
    }

    /// A new root, intermediate and leaf shaped like Apple's (the marker extensions, unless told
    /// otherwise), with the leaf's key. For development tenants and tests; never trusted by a
    /// production source, which trusts only the root its operators configure.
    public static func development(
        leafMarker: Bool = true, intermediateMarker: Bool = true,
        leafValidity: ClosedRange<Date>? = nil
    ) throws -> AppleSigningIdentity {
        let rootKey = P256.Signing.PrivateKey(), intermediateKey = P256.Signing.PrivateKey(), leafKey = P256.Signing.PrivateKey()
        let rootName = try DistinguishedName { CommonName("Tollgate Development App Store Root") }
        let intermediateName = try DistinguishedName { CommonName("Tollgate Development App Store Intermediate") }
        let leafName = try DistinguishedName { CommonName("Tollgate Development App Store Signer") }
        // Fixed, so that a test's payload signed at a fixed date keeps verifying for decades.
        let longAgo = Date(timeIntervalSince1970: 1_577_836_800), farAhead = Date(timeIntervalSince1970: 2_524_608_000)  // 2020 to 2050
        let leafValidity = leafValidity ?? longAgo...farAhead
        // Apple's markers are present-or-absent extensions: their value is an ASN.1 NULL.
        let marker = { (oid: ASN1ObjectIdentifier) in Certificate.Extension(oid: oid, critical: false, value: [0x05, 0x00]) }
        let root = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(rootKey.publicKey), notValidBefore: longAgo, notValidAfter: farAhead,
            issuer: rootName, subject: rootName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                KeyUsage(keyCertSign: true)
            },
            issuerPrivateKey: .init(rootKey)
        )
        var intermediateExtensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            KeyUsage(keyCertSign: true)
        }
        if intermediateMarker { try intermediateExtensions.append(marker(AppleSignedDataVerifier.intermediateMarker)) }
        let intermediate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(intermediateKey.publicKey), notValidBefore: longAgo, notValidAfter: farAhead,
            issuer: rootName, subject: intermediateName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: intermediateExtensions, issuerPrivateKey: .init(rootKey)
        )
        var leafExtensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            KeyUsage(digitalSignature: true)
        }
        if leafMarker { try leafExtensions.append(marker(AppleSignedDataVerifier.leafMarker)) }
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: leafValidity.lowerBound, notValidAfter: leafValidity.upperBound,
            issuer: intermediateName, subject: leafName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: leafExtensions, issuerPrivateKey: .init(intermediateKey)
        )
        func der(_ certificate: Certificate) throws -> [UInt8] {
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        }
        return AppleSigningIdentity(privateKey: leafKey, chain: [try der(leaf), try der(intermediate), try der(root)])
    }
}

public enum AppleSigningIdentityError: Error, Sendable, Equatable, CustomStringConvertible {
    case noPrivateKey, noChain

    public var description: String {
        switch self {
        case .noPrivateKey: "no P-256 private key (PEM, PKCS#8 or SEC 1) in the signing identity"
        case .noChain: "a signing identity holds the leaf and intermediate certificates (PEM) after its key, and the root last"
        }
    }
}
