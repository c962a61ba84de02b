import Foundation
import SwiftASN1
import TollgateCore
import X509

/// Verifies a PayPal webhook as PayPal specifies it (PROVIDERS.md, "PayPal"): RSA PKCS#1 v1.5 with
/// SHA-256 over `<transmission id>|<transmission time>|<webhook id>|<crc32 of the body>`, with the
/// key of the certificate at `PAYPAL-CERT-URL`.
///
/// The certificate URL comes from the request, so it is where a forger would point to a
/// certificate of their own (and the fetch itself is an SSRF). It is used only when it is https
/// on an allow-listed PayPal host, on the default port, under `/v1/notifications/certs/`; anything
/// else is refused before any request is made. The certificate fetched must chain to a
/// configured root at the transmission time and name a PayPal host (`*.paypal.com`); it is cached
/// by URL (``PayPalCertificates``), so a stream of webhooks makes one fetch. The webhook id is the
/// source's configuration, never read from the request: a webhook signed for another PayPal
/// webhook (another merchant's) does not verify here.
public struct PayPalSignatureVerifier: Sendable {
    public let webhookID: String
    let certificates: PayPalCertificates
    /// How far the transmission time may be from now, either way.
    let tolerance: TimeInterval

    public init(webhookID: String, certificates: PayPalCertificates, tolerance: Duration = .seconds(300)) {
        self.webhookID = webhookID
        self.certificates = certificates
        self.tolerance = Double(tolerance.components.seconds)
    }

    public func verify(_ request: SignedRequest, now: Date) async throws(PayPalVerificationFailure) {
        guard let id = request.header("PAYPAL-TRANSMISSION-ID"), let time = request.header("PAYPAL-TRANSMISSION-TIME"),
              let signatureText = request.header("PAYPAL-TRANSMISSION-SIG"), let certificateURL = request.header("PAYPAL-CERT-URL") else {
            throw .missingHeader
        }
        if let algorithm = request.header("PAYPAL-AUTH-ALGO"), algorithm != "SHA256withRSA" { throw .unsupportedAlgorithm }
        guard !id.isEmpty, id.utf8.count <= 128, !id.contains("|"), let sent = ISO8601Timestamp.parse(time),
              let signature = Base64.decode(signatureText), !signature.isEmpty else { throw .malformedHeader }
        guard abs(sent.timeIntervalSince(now)) <= tolerance else { throw .stale }
        let certificate = try await certificates.certificate(at: certificateURL, validAt: sent)
        let signed = "\(id)|\(time)|\(webhookID)|\(CRC32.checksum(request.body))"
        guard certificate.publicKey.isValidSignature(signature, for: Array(signed.utf8), signatureAlgorithm: .sha256WithRSAEncryption) else {
            throw .signatureMismatch
        }
    }

    /// What PayPal signs for a transmission (a signer's half: tests, and later trigger and load).
    public static func signedString(transmissionID: String, time: String, webhookID: String, body: [UInt8]) -> String {
        "\(transmissionID)|\(time)|\(webhookID)|\(CRC32.checksum(body))"
    }
}

/// Why a PayPal webhook was refused.
public enum PayPalVerificationFailure: String, Error, Sendable, CaseIterable {
    case missingHeader = "missing_header"
    case malformedHeader = "malformed_header"
    case unsupportedAlgorithm = "unsupported_algorithm"
    /// The transmission time is further from now than the tolerance.
    case stale
    /// The certificate URL is not https on an allow-listed PayPal host: refused without a request.
    case certificateURLRefused = "certificate_url_refused"
    /// The certificate could not be fetched or parsed (retried on the next webhook).
    case certificateUnavailable = "certificate_unavailable"
    /// The certificate does not chain to a configured root, or names no PayPal host.
    case untrustedCertificate = "untrusted_certificate"
    case signatureMismatch = "signature_mismatch"
}

/// PayPal's signing certificates, fetched from allow-listed URLs and cached by URL.
public actor PayPalCertificates {
    public typealias Fetch = @Sendable (URL) async throws -> [UInt8]

    public static let defaultHosts: Set<String> = ["api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"]

    private let roots: [Certificate]
    private let hosts: Set<String>
    private let fetch: Fetch
    /// Parsed chains by URL: leaf first. A fetch in flight is shared by every webhook waiting on it.
    private var cache: [String: Task<[Certificate]?, Never>] = [:]
    /// How many fetches were made (for tests and metrics).
    public private(set) var fetches = 0
    /// Beyond this many URLs the cache starts over: PayPal rotates a handful of certificates.
    static let maximumCached = 64

    /// - Parameters:
    ///   - roots: DER certificates a PayPal certificate must chain to (DigiCert's, in production).
    ///   - hosts: the hosts a certificate URL may name.
    ///   - fetch: an HTTPS GET of the URL's body, no redirects followed.
    public init(roots: [[UInt8]], hosts: Set<String> = PayPalCertificates.defaultHosts, fetch: @escaping Fetch) throws {
        self.roots = try roots.map { try Certificate(derEncoded: $0) }
        self.hosts = hosts
        self.fetch = fetch
    }

    /// Whether `text` may be fetched: https, an allow-listed host, the default port, no user
    /// information, the certificates path. Checked before any request.
    public static func allows(_ text: String, hosts: Set<String>) -> URL? {
        guard text.utf8.count <= 512, let components = URLComponents(string: text), components.scheme == "https",
              let host = components.host?.lowercased(), hosts.contains(host), components.port == nil || components.port == 443,
              components.user == nil, components.password == nil, components.fragment == nil,
              components.path.hasPrefix("/v1/notifications/certs/"), !components.path.contains(".."),
              let url = components.url else { return nil }
        return url
    }

    /// The leaf certificate at `text`, verified to a root at `validAt`.
    func certificate(at text: String, validAt: Date) async throws(PayPalVerificationFailure) -> Certificate {
        guard let url = Self.allows(text, hosts: hosts) else { throw .certificateURLRefused }
        let key = url.absoluteString
        let task: Task<[Certificate]?, Never>
        if let cached = cache[key] {
            task = cached
        } else {
            if cache.count >= Self.maximumCached { cache.removeAll() }
            fetches += 1
            let fetch = self.fetch
            task = Task { Self.parse((try? await fetch(url)) ?? []) }
            cache[key] = task
        }
        guard let chain = await task.value, let leaf = chain.first else {
            // Not cached as a failure: the next webhook tries again.
            if cache[key] == task { cache[key] = nil }
            throw .certificateUnavailable
        }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy(validationTime: validAt)
            PayPalSubjectPolicy()
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(chain.dropFirst()))) {
        case .validCertificate: return leaf
        case .couldNotValidate: throw .untrustedCertificate
        }
    }

    private static func parse(_ bytes: [UInt8]) -> [Certificate]? {
        guard bytes.count <= 64 * 1024, let text = String(bytes: bytes, encoding: .utf8),
              let documents = try? PEMDocument.parseMultiple(pemString: text) else { return nil }
        let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }.compactMap { try? Certificate(derEncoded: $0.derBytes) }
        return certificates.isEmpty ? nil : certificates
    }
}

/// The leaf must name a PayPal host: a certificate for some other site under the same public root
/// must not sign PayPal's webhooks.
struct PayPalSubjectPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        let commonNames = chain.leaf.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.map { $0.value.description.lowercased() }
        guard commonNames.contains(where: { $0 == "paypal.com" || $0.hasSuffix(".paypal.com") }) else {
            return .failsToMeetPolicy(reason: "the certificate names no PayPal host")
        }
        return .meetsPolicy
    }
}

/// IEEE 802.3 CRC-32 (zlib's), as PayPal signs it: of the raw body, as an unsigned decimal.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
