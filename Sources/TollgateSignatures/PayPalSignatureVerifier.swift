import Crypto
import Foundation
import SwiftASN1
import TollgateCore
import X509

/// Verifies a PayPal webhook as PayPal specifies it (PROVIDERS.md, "PayPal"): RSA PKCS#1 v1.5 with
/// SHA-256 over `<transmission id>|<transmission time>|<webhook id>|<crc32 of the body>`, with the
/// key of the certificate at `PAYPAL-CERT-URL` (or, when that URL cannot be fetched, of a PayPal
/// certificate an earlier webhook was verified with: ``PayPalCertificates``).
///
/// The certificate URL comes from the request, so it is where a forger would point to a
/// certificate of their own (and the fetch itself is an SSRF). It is used only when it is https
/// on an allow-listed PayPal host, on the default port, under `/v1/notifications/certs/`; anything
/// else is refused before any request is made. The certificate fetched must chain to a
/// configured root at the transmission time and name a PayPal host (`*.paypal.com`); it is cached
/// by URL (``PayPalCertificates``), so a stream of webhooks makes one fetch. The webhook id is the
/// source's configuration, never read from the request: a webhook signed for another PayPal
/// webhook (another merchant's) does not verify here.
///
/// PayPal's signature covers the body only through its CRC-32, which can be matched on purpose:
/// with one genuine transmission in hand (a log, a proxy), another body with the same CRC-32
/// passes the signature while the transmission time is fresh. So each transmission id, once
/// verified, is bound to its body's SHA-256 until its time can no longer pass (``Transmissions``):
/// the same transmission again is harmless (a duplicate, deduplicated downstream), another body
/// under it is refused. The binding is per process; instances behind one address each keep their own.
public struct PayPalSignatureVerifier: Sendable {
    public let webhookID: String
    let certificates: PayPalCertificates
    /// How far the transmission time may be from now, either way.
    let tolerance: TimeInterval
    let transmissions: Transmissions

    public init(webhookID: String, certificates: PayPalCertificates, tolerance: Duration = .seconds(300)) {
        self.webhookID = webhookID
        self.certificates = certificates
        self.tolerance = tolerance.seconds
        self.transmissions = Transmissions(remember: 2 * tolerance.seconds)
    }

    public func verify(_ request: SignedRequest, now: Date) async throws(PayPalVerificationFailure) {
        guard let id = request.header("PAYPAL-TRANSMISSION-ID"), let time = request.header("PAYPAL-TRANSMISSION-TIME"),
              let signatureText = request.header("PAYPAL-TRANSMISSION-SIG"), let certificateURL = request.header("PAYPAL-CERT-URL") else {
            throw .missingHeader
        }
        guard let algorithm = request.header("PAYPAL-AUTH-ALGO") else { throw .missingHeader }
        guard algorithm == "SHA256withRSA" else { throw .unsupportedAlgorithm }
        guard !id.isEmpty, id.utf8.count <= 128, !id.contains("|"), let sent = ISO8601Timestamp.parse(time),
              let signature = Base64.decode(signatureText), !signature.isEmpty else { throw .malformedHeader }
        guard abs(sent.timeIntervalSince(now)) <= tolerance else { throw .stale }
        let signed = "\(id)|\(time)|\(webhookID)|\(CRC32.checksum(request.body))"
        try await certificates.verify(signature, over: Array(signed.utf8), certificateAt: certificateURL, validAt: sent)
        guard await transmissions.bind(id, to: Array(SHA256.hash(data: request.body)), now: now) else { throw .replayedTransmission }
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
    /// The certificate could not be fetched or parsed, and no certificate already proven verifies
    /// the signature (retried on the next webhook).
    case certificateUnavailable = "certificate_unavailable"
    /// The certificate does not chain to a configured root, or names no PayPal host.
    case untrustedCertificate = "untrusted_certificate"
    case signatureMismatch = "signature_mismatch"
    /// A transmission id already verified with another body: a signature lifted onto a body
    /// made to match its CRC-32.
    case replayedTransmission = "replayed_transmission"
}

/// Transmission ids verified recently, each bound to its body's SHA-256 until it expires
/// (`remember` seconds: twice the time tolerance, so a transmission expires only once its time
/// can no longer pass). At most `capacity` are kept; past it the oldest go first, which only
/// shortens a binding.
actor Transmissions {
    private let remember: TimeInterval
    private let capacity: Int
    private var digests: [String: [UInt8]] = [:]
    /// Insertion order with expiry: inserted at `now`, so expiries are in order too.
    private var order: [(id: String, expires: Date)] = []
    private var start = 0

    init(remember: TimeInterval, capacity: Int = 100_000) {
        self.remember = remember
        self.capacity = max(1, capacity)
    }

    /// True when `id` is new or already bound to `digest`; false when bound to another body.
    func bind(_ id: String, to digest: [UInt8], now: Date) -> Bool {
        while start < order.count, order[start].expires <= now || order.count - start >= capacity {
            digests[order[start].id] = nil
            start += 1
        }
        if start > 1024, start * 2 > order.count {
            order.removeFirst(start)
            start = 0
        }
        if let bound = digests[id] { return bound == digest }
        digests[id] = digest
        order.append((id, now.addingTimeInterval(remember)))
        return true
    }
}

/// PayPal's signing certificates, fetched from allow-listed URLs and cached by URL.
///
/// The URL is the sender's choice, so fetching is bounded as well as allow-listed: the path must be
/// a certificate id (`/v1/notifications/certs/CERT-…`, no query), a chain is cached once it
/// verified to a root, at most `maximumNewFetchesPerMinute` URLs not yet cached are fetched in any
/// minute, a fetch in flight is shared by every webhook waiting on it, and a fetch that does not
/// answer within `fetchTimeout` fails. A forger sending fresh URLs therefore costs a few requests
/// a minute. What the forger cannot do:
/// - evict a certificate in use: a chain a signature verified under is *proven*, and the cache
///   evicts unproven chains first (a forger's signature proves nothing);
/// - deny a genuine webhook by spending the budget: when the URL it names cannot be fetched, its
///   signature is tried under the proven chains (at most ``maximumVerified`` RSA verifications).
///   The signature is what proves a webhook; the URL only says where the key is, and PayPal names
///   one key under more than one host.
/// A genuine webhook is still answered "unavailable" (and retried by PayPal) when its key is in no
/// proven chain and its URL cannot be fetched: after a restart or a PayPal key rotation, while a
/// forger spends the budget.
public actor PayPalCertificates {
    public typealias Fetch = @Sendable (URL) async throws -> [UInt8]

    public static let liveHosts: Set<String> = ["api.paypal.com", "api-m.paypal.com"]
    public static let sandboxHosts: Set<String> = ["api.sandbox.paypal.com", "api-m.sandbox.paypal.com"]
    /// The subject PayPal's signing certificates carry (PayPal's SDKs pin the same).
    static let liveCommonName = "messageverificationcerts.paypal.com"
    static let sandboxCommonName = "messageverificationcerts.sandbox.paypal.com"
    static let maximumVerified = 16

    /// A chain that verified to a root once: its PayPal leaf, and whether a signature has verified
    /// under it.
    struct Cached {
        let chain: [Certificate]
        let leaf: Certificate
        var proven: Bool
    }

    private let roots: [Certificate]
    private let hosts: Set<String>
    private let commonName: String
    private let fetch: Fetch
    private let fetchTimeout: Duration
    private let maximumNewFetchesPerMinute: Int
    private let now: @Sendable () -> Date
    /// Chains by normalised URL, and their URLs in the order they were cached or last proven:
    /// eviction takes the first unproven one, or failing that the first.
    private var cached: [String: Cached] = [:]
    private var cachedOrder: [String] = []
    /// Fetches in flight, shared by every webhook naming the same URL.
    private var inFlight: [String: Task<[Certificate]?, Never>] = [:]
    private var recentFetches: [Date] = []
    /// How many fetches were made (for tests and metrics).
    public private(set) var fetches = 0
    /// The URLs cached now, first to evict first (for tests).
    var cachedURLs: [String] { cachedOrder }

    /// - Parameters:
    ///   - roots: DER certificates a PayPal certificate must chain to (DigiCert's, in production).
    ///   - sandbox: PayPal's sandbox hosts and certificate instead of the live ones.
    ///   - fetch: an HTTPS GET of the URL's body; it must follow no redirect.
    public init(roots: [[UInt8]], sandbox: Bool = false, fetchTimeout: Duration = .seconds(10), maximumNewFetchesPerMinute: Int = 10,
                now: @escaping @Sendable () -> Date = { Date() }, fetch: @escaping Fetch) throws {
        self.roots = try roots.map { try Certificate(derEncoded: $0) }
        self.hosts = sandbox ? Self.sandboxHosts : Self.liveHosts
        self.commonName = sandbox ? Self.sandboxCommonName : Self.liveCommonName
        self.fetch = fetch
        self.fetchTimeout = fetchTimeout
        self.maximumNewFetchesPerMinute = maximumNewFetchesPerMinute
        self.now = now
    }

    /// The URL to fetch for `text`, normalised (lower-case host, no port), or nil unless it is
    /// https on one of `hosts`, on the default port, without user information, query or fragment,
    /// at `/v1/notifications/certs/CERT-<letters, digits, '-'>`. Checked before any request.
    public static func allows(_ text: String, hosts: Set<String>) -> URL? {
        guard text.utf8.count <= 512, let components = URLComponents(string: text), components.scheme?.lowercased() == "https",
              let host = components.host?.lowercased(), hosts.contains(host), components.percentEncodedHost?.lowercased() == host,
              components.port == nil || components.port == 443,
              components.user == nil, components.password == nil, components.query == nil, components.fragment == nil,
              components.percentEncodedPath == components.path else { return nil }
        let prefix = "/v1/notifications/certs/CERT-"
        guard components.path.hasPrefix(prefix) else { return nil }
        let id = components.path.dropFirst(prefix.count)
        guard (1...64).contains(id.count), id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return nil }
        return URL(string: "https://\(host)\(components.path)")
    }

    /// Verifies `signature` (RSA PKCS#1 v1.5, SHA-256) over `message` with the key of the PayPal
    /// certificate at `text`, which must chain to a root at `validAt`; or, when that URL cannot be
    /// fetched, with the key of a proven chain that does. Signatures and chains are checked off
    /// the actor: only the cache's bookkeeping waits its turn.
    nonisolated func verify(_ signature: [UInt8], over message: [UInt8], certificateAt text: String, validAt: Date) async throws(PayPalVerificationFailure) {
        switch try await certificate(at: text, validAt: validAt) {
        case .named(let key, let leaf):
            guard Self.isValid(signature, over: message, by: leaf) else { throw .signatureMismatch }
            await prove(key, leaf)
        case .unavailable(let proven):
            // The signature first: it is the cheaper test, and it rules out every chain of
            // another key.
            for entry in proven where Self.isValid(signature, over: message, by: entry.leaf) {
                if await Self.chains(entry.leaf, entry.chain, to: roots, at: validAt) {
                    await prove(entry.key, entry.leaf)
                    return
                }
            }
            throw .certificateUnavailable
        }
    }

    /// What a webhook's signature is checked with (``certificate(at:validAt:)``).
    enum Lookup {
        /// The PayPal leaf at the URL the webhook names, chained to a root at the transmission time.
        case named(key: String, leaf: Certificate)
        /// The URL could not be fetched: the proven chains, most recently proven first.
        case unavailable(proven: [(key: String, leaf: Certificate, chain: [Certificate])])
    }

    private func certificate(at text: String, validAt: Date) async throws(PayPalVerificationFailure) -> Lookup {
        guard let url = Self.allows(text, hosts: hosts) else { throw .certificateURLRefused }
        let key = url.absoluteString
        if let entry = cached[key] {
            guard await Self.chains(entry.leaf, entry.chain, to: roots, at: validAt) else { throw .untrustedCertificate }
            return .named(key: key, leaf: entry.leaf)
        }
        guard let (chain, task) = await fetchedChain(url, key) else {
            return .unavailable(proven: cachedOrder.reversed().compactMap { key in
                cached[key].flatMap { $0.proven ? (key, $0.leaf, $0.chain) : nil }
            })
        }
        // The task stayed in flight until here, so webhooks arriving meanwhile reused its answer.
        defer { forget(key, task) }
        guard let leaf = chain.first(where: { Self.isLeaf($0, commonName: commonName) }),
              await Self.chains(leaf, chain, to: roots, at: validAt) else { throw .untrustedCertificate }
        remember(key, Cached(chain: chain, leaf: leaf, proven: false))
        return .named(key: key, leaf: leaf)
    }

    /// The chain at `url` and the fetch that got it (its own, or one already in flight), within
    /// the budget; nil when the budget is spent or the fetch fails. A failure is not remembered:
    /// the next webhook may try again.
    private func fetchedChain(_ url: URL, _ key: String) async -> ([Certificate], Task<[Certificate]?, Never>)? {
        let task: Task<[Certificate]?, Never>
        if let running = inFlight[key] {
            task = running
        } else {
            let start = now()
            recentFetches.removeAll { start.timeIntervalSince($0) >= 60 }
            guard recentFetches.count < maximumNewFetchesPerMinute else { return nil }
            recentFetches.append(start)
            fetches += 1
            let fetch = self.fetch, timeout = fetchTimeout
            task = Task {
                guard case .success(let bytes)? = await resultWithin(timeout, { try await fetch(url) }) else { return nil }
                return Self.parse(bytes)
            }
            inFlight[key] = task
        }
        guard let chain = await task.value else {
            forget(key, task)
            return nil
        }
        return (chain, task)
    }

    private static func chains(_ leaf: Certificate, _ chain: [Certificate], to roots: [Certificate], at validAt: Date) async -> Bool {
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy(validationTime: validAt)
        }
        guard case .validCertificate = await verifier.validate(leaf: leaf, intermediates: CertificateStore(chain.filter { $0 != leaf })) else {
            return false
        }
        return true
    }

    private static func isValid(_ signature: [UInt8], over message: [UInt8], by leaf: Certificate) -> Bool {
        leaf.publicKey.isValidSignature(signature, for: message, signatureAlgorithm: .sha256WithRSAEncryption)
    }

    private func forget(_ key: String, _ task: Task<[Certificate]?, Never>) {
        if inFlight[key] == task { inFlight[key] = nil }
    }

    /// Caches a chain that verified to a root, unless one is cached under `key` already; when
    /// full, the first unproven chain in ``cachedOrder`` makes room, or failing that the least
    /// recently proven.
    private func remember(_ key: String, _ entry: Cached) {
        guard cached[key] == nil else { return }
        if cachedOrder.count >= Self.maximumVerified {
            let evicted = cachedOrder.firstIndex { cached[$0]?.proven == false } ?? 0
            cached[cachedOrder.remove(at: evicted)] = nil
        }
        cached[key] = entry
        cachedOrder.append(key)
    }

    /// Marks the chain at `key` proven and last to evict, if it still holds `leaf` (the cache may
    /// have changed while the signature was checked). One proven slot per certificate: the same
    /// leaf proven under another URL (PayPal's other host, or a transmission replayed under fresh
    /// URLs) gives its slot up, so URLs of one key cannot crowd out another key.
    private func prove(_ key: String, _ leaf: Certificate) {
        guard cached[key]?.leaf == leaf else { return }
        cached[key]?.proven = true
        for other in cachedOrder where other != key && cached[other]?.leaf == leaf { cached[other] = nil }
        cachedOrder.removeAll { $0 == key || cached[$0] == nil }
        cachedOrder.append(key)
    }

    /// PayPal's signing certificate: not a CA, and its subject's common name is PayPal's
    /// message-verification host exactly (a TLS certificate of www.paypal.com under the same
    /// root must not sign webhooks).
    static func isLeaf(_ certificate: Certificate, commonName: String) -> Bool {
        if let constraints = try? certificate.extensions.basicConstraints, case .isCertificateAuthority = constraints { return false }
        return certificate.subject.flatMap { $0 }.contains { attribute in
            attribute.type == .RDNAttributeType.commonName && String(attribute.value)?.lowercased() == commonName
        }
    }

    private static func parse(_ bytes: [UInt8]) -> [Certificate]? {
        guard bytes.count <= 64 * 1024, let text = String(bytes: bytes, encoding: .utf8),
              let documents = try? PEMDocument.parseMultiple(pemString: text) else { return nil }
        let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }.compactMap { try? Certificate(derEncoded: $0.derBytes) }
        return certificates.isEmpty ? nil : certificates
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
