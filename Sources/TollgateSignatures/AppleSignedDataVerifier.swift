import Foundation
import JWTKit
import SwiftASN1
import TollgateCore
import X509

/// Verifies what the App Store signs: a notification's `signedPayload` (App Store Server
/// Notifications V2) and the `signedTransactionInfo` / `signedRenewalInfo` inside it.
///
/// Each is a JWS whose header carries the signing chain (`x5c`: leaf, intermediate, root). It is
/// authentic when, and only when:
/// - the header's `alg` is ES256 and its `x5c` is present;
/// - the chain verifies up to one of the configured roots (Apple Root CA - G3 in production, which
///   operators supply as a file; a test root in tests), valid at the payload's `signedDate` (Apple
///   signs with short-lived leaves: a notification retried days later is still authentic);
/// - the leaf carries Apple's marker extension 1.2.840.113635.100.6.11.1 and the intermediate
///   1.2.840.113635.100.6.2.1 (a certificate chaining to Apple's root for some other purpose
///   cannot sign App Store data);
/// - the ES256 signature verifies with the leaf's key;
/// - the payload names the configured bundle id and environment.
/// Anything else fails closed with a reason (``AppleSignedDataFailure``).
public struct AppleSignedDataVerifier: Sendable {
    /// The App Store environment a source accepts (the payload's `environment`).
    public enum Environment: String, Sendable, CaseIterable {
        case production = "Production"
        case sandbox = "Sandbox"
        case xcode = "Xcode"
        case localTesting = "LocalTesting"
    }

    /// Apple's marker extensions: on the leaf that signs App Store data, and on its intermediate.
    static let leafMarker: ASN1ObjectIdentifier = [1, 2, 840, 113_635, 100, 6, 11, 1]
    static let intermediateMarker: ASN1ObjectIdentifier = [1, 2, 840, 113_635, 100, 6, 2, 1]

    private let chainVerifier: X5CVerifier
    public let bundleID: String
    public let environment: Environment

    /// - Parameter rootCertificates: DER certificates the chain must end in.
    public init(rootCertificates: [[UInt8]], bundleID: String, environment: Environment) throws {
        self.chainVerifier = try X5CVerifier(rootCertificates: rootCertificates.map { try Certificate(derEncoded: $0) })
        self.bundleID = bundleID
        self.environment = environment
    }

    /// A notification's `signedPayload`, verified, with its bundle id and environment checked.
    public func verifyNotification(_ jws: String) async throws(AppleSignedDataFailure) -> AppleNotificationPayload {
        let payload: AppleNotificationPayload = try await verify(jws)
        try check(bundleID: payload.bundleID, environment: payload.environment)
        return payload
    }

    /// A notification's `signedTransactionInfo`, verified, with its bundle id and environment checked.
    public func verifyTransaction(_ jws: String) async throws(AppleSignedDataFailure) -> AppleTransactionPayload {
        let payload: AppleTransactionPayload = try await verify(jws)
        try check(bundleID: payload.bundleID, environment: payload.environment)
        return payload
    }

    /// A notification's `signedRenewalInfo`, verified, with its environment checked (it names no bundle).
    public func verifyRenewal(_ jws: String) async throws(AppleSignedDataFailure) -> AppleRenewalPayload {
        let payload: AppleRenewalPayload = try await verify(jws)
        try check(bundleID: nil, environment: payload.environment)
        return payload
    }

    private func check(bundleID: String?, environment: String?) throws(AppleSignedDataFailure) {
        if let bundleID, bundleID != self.bundleID { throw .wrongBundle }
        guard environment == self.environment.rawValue else { throw .wrongEnvironment }
    }

    /// The payload of `jws` once header, chain and signature are verified.
    private func verify<Payload: AppleSignedPayload>(_ jws: String) async throws(AppleSignedDataFailure) -> Payload {
        let header = try Self.header(of: jws)
        guard header.alg == "ES256" else { throw .unsupportedAlgorithm }
        // Apple's chains are leaf, intermediate and root, as Apple's own libraries require: a longer
        // one is refused before any certificate is parsed.
        guard let chain = header.x5c, !chain.isEmpty else { throw .missingCertificateChain }
        guard chain.count == 3 else { throw .untrustedChain }
        do {
            return try await chainVerifier.verifyJWS(
                Array(jws.utf8), as: Payload.self, jsonDecoder: Self.decoder, validationTime: .signedDate, policy: { AppleMarkerPolicy() }
            )
        } catch let error as JWTError {
            if error.errorType == .invalidX5CChain || error.errorType == .missingX5CHeader { throw .untrustedChain }
            if error.errorType == .signatureVerificationFailed { throw .signatureMismatch }
            throw .malformed
        } catch {
            // Certificates that do not parse, and payloads that do not decode.
            throw .malformed
        }
    }

    /// The protected header, read before anything is trusted (only to refuse early and precisely).
    private struct Header: Decodable {
        let alg: String?
        let x5c: [String]?
    }

    private static func header(of jws: String) throws(AppleSignedDataFailure) -> Header {
        let parts = jws.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64.decodeURL(utf8: parts[0]),
              let header = try? JSONDecoder().decode(Header.self, from: Data(bytes)) else { throw .malformed }
        return header
    }

    /// Trusted roots from a file: DER (as apple.com/certificateauthority serves Apple Root CA - G3)
    /// or PEM holding one or more certificates.
    public static func readRootCertificates(atPath path: String) -> Result<[[UInt8]], RootFileProblem> {
        guard let data = FileManager.default.contents(atPath: path) else { return .failure(RootFileProblem(message: "cannot read the file")) }
        if let text = String(data: data, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----") {
            let documents = (try? PEMDocument.parseMultiple(pemString: text)) ?? []
            let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }.map(\.derBytes)
            guard !certificates.isEmpty, certificates.allSatisfy({ (try? Certificate(derEncoded: $0)) != nil }) else {
                return .failure(RootFileProblem(message: "the PEM holds no certificate that parses"))
            }
            return .success(certificates)
        }
        guard (try? Certificate(derEncoded: Array(data))) != nil else { return .failure(RootFileProblem(message: "not a DER or PEM certificate")) }
        return .success([Array(data)])
    }

    public struct RootFileProblem: Error, Sendable {
        public let message: String
    }

    /// App Store Server Notifications V2 began in 2021; nothing is signed later than a day from now.
    static let earliestSigningDate = Date(timeIntervalSince1970: 1_577_836_800)  // 2020-01-01

    /// Apple's clock and ours may differ by this much.
    static let clockSkew: TimeInterval = 300

    /// `date` as the chain is checked at: at least 2020-01-01; a date up to `clockSkew` ahead of
    /// `now` is now (jwt-kit refuses any date in its future, and Apple's clock may run ahead of
    /// ours); one further ahead is left as it is, and refused.
    public static func plausibleSigningDate(_ date: Date, now: Date = Date()) -> Date {
        if date > now.addingTimeInterval(clockSkew) { return date }
        return max(min(date, now), earliestSigningDate)
    }

    /// Apple's dates are milliseconds since 1970.
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }()
}

/// Why App Store signed data was refused.
public enum AppleSignedDataFailure: String, Error, Sendable, CaseIterable {
    /// Not three base64url parts, a header or payload that is not the expected JSON, a certificate that does not parse.
    case malformed
    /// The header's `alg` is not ES256.
    case unsupportedAlgorithm = "unsupported_algorithm"
    /// The header has no `x5c` chain.
    case missingCertificateChain = "missing_certificate_chain"
    /// The chain does not verify to a configured root at `signedDate`, or lacks Apple's marker extensions.
    case untrustedChain = "untrusted_chain"
    /// The chain is trusted but its leaf did not sign these bytes.
    case signatureMismatch = "signature_mismatch"
    /// Signed for another app.
    case wrongBundle = "wrong_bundle"
    /// Signed for another environment (a sandbox notification at a production source, or the reverse).
    case wrongEnvironment = "wrong_environment"
}

/// The leaf must carry Apple's App Store marker, the intermediate Apple's intermediate marker.
struct AppleMarkerPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        guard chain.count >= 3 else { return .failsToMeetPolicy(reason: "an App Store chain is leaf, intermediate and root") }
        guard chain[0].extensions[oid: AppleSignedDataVerifier.leafMarker] != nil else {
            return .failsToMeetPolicy(reason: "the leaf lacks Apple's App Store marker extension")
        }
        guard chain[1].extensions[oid: AppleSignedDataVerifier.intermediateMarker] != nil else {
            return .failsToMeetPolicy(reason: "the intermediate lacks Apple's intermediate marker extension")
        }
        return .meetsPolicy
    }
}

/// A payload the App Store signs: its chain is validated at its `signedDate` (milliseconds since
/// 1970 in the JSON), or now when it has none (Apple's own libraries do the same).
protocol AppleSignedPayload: ValidationTimePayload, Decodable {
    var signedAt: Date? { get }
}

extension AppleSignedPayload {
    /// Read before the signature is checked (jwt-kit validates the chain at it first), so held to
    /// dates Apple can have signed at: a forged -10^15 would otherwise reach swift-certificates'
    /// `GeneralizedTime`, which traps on years before 0. Before 2020 the chain is checked at
    /// 2020, where a forgery still fails its signature; a date far in the future is refused.
    public var signedDate: Date { AppleSignedDataVerifier.plausibleSigningDate(signedAt ?? Date()) }

    // The JWS carries no JWT claims to check (no exp): the chain and signature are the check.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// App Store Server Notifications V2, decoded (what Tollgate reads of it).
public struct AppleNotificationPayload: AppleSignedPayload, Sendable {
    public let notificationType: String
    public let subtype: String?
    public let notificationUUID: String
    public let signedAt: Date?
    public let data: Content?
    /// Summary notifications (renewal-extension results) carry their app here instead of `data`.
    public let summary: Content?

    enum CodingKeys: String, CodingKey {
        case notificationType, subtype, notificationUUID, signedAt = "signedDate", data, summary
    }

    public struct Content: Codable, Sendable {
        public let bundleId: String?
        public let environment: String?
        public let appAppleId: Int64?
        public let signedTransactionInfo: String?
        public let signedRenewalInfo: String?
    }

    var bundleID: String? { data?.bundleId ?? summary?.bundleId }
    var environment: String? { data?.environment ?? summary?.environment }
}

/// A transaction (`signedTransactionInfo`), decoded. `price` is in milliunits of `currency`.
public struct AppleTransactionPayload: AppleSignedPayload, Sendable {
    public let transactionId: String?
    public let originalTransactionId: String?
    public let bundleId: String?
    public let productId: String?
    public let quantity: Int?
    public let type: String?
    public let appAccountToken: String?
    public let price: Int64?
    public let currency: String?
    public let environment: String?
    public let signedAt: Date?
    public let revocationDate: Date?
    public let revocationReason: Int?

    enum CodingKeys: String, CodingKey {
        case transactionId, originalTransactionId, bundleId, productId, quantity, type, appAccountToken, price, currency,
             environment, signedAt = "signedDate", revocationDate, revocationReason
    }

    var bundleID: String? { bundleId }
}

/// A subscription's renewal information (`signedRenewalInfo`), decoded.
public struct AppleRenewalPayload: AppleSignedPayload, Sendable {
    public let originalTransactionId: String?
    public let autoRenewProductId: String?
    public let environment: String?
    public let signedAt: Date?

    enum CodingKeys: String, CodingKey {
        case originalTransactionId, autoRenewProductId, environment, signedAt = "signedDate"
    }
}
