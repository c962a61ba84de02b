import _CryptoExtras
import Foundation
import TollgateCore

/// Verifies the token Google Cloud Pub/Sub sends with a push (`Authorization: Bearer <JWT>`), as
/// Google Play real-time developer notifications arrive.
///
/// The token is authentic when, and only when:
/// - its header's `alg` is RS256 and its `kid` names one of Google's published keys
///   (``GoogleSigningKeys``: a JWKS document, refetched on a `kid` it does not know);
/// - the RS256 signature verifies with that key;
/// - `iss` is Google's (`accounts.google.com`, with or without `https://`);
/// - `aud` is the audience configured on the push subscription (the source's setting);
/// - `email` is the subscription's service account and `email_verified` is true;
/// - it has not expired (`exp`), and was not issued in the future (`iat`, a minute's skew allowed).
/// Anything else fails closed with a reason (``GooglePushTokenFailure``).
public struct GooglePushTokenVerifier: Sendable {
    public let audience: String
    public let serviceAccountEmail: String
    let keys: GoogleSigningKeys

    static let issuers: Set<String> = ["accounts.google.com", "https://accounts.google.com"]
    /// Clock skew allowed on `iat` and `exp`.
    static let skew: TimeInterval = 60
    /// A push token is a few hundred bytes; anything far larger is no token.
    static let maximumTokenBytes = 8 * 1024

    public init(audience: String, serviceAccountEmail: String, keys: GoogleSigningKeys) {
        self.audience = audience
        self.serviceAccountEmail = serviceAccountEmail
        self.keys = keys
    }

    /// The claims of the push's token, once every check above holds at `now`.
    public func verify(authorization: String?, now: Date) async throws(GooglePushTokenFailure) -> GooglePushClaims {
        guard let authorization else { throw .missingToken }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw .malformed }
        let token = String(parts[1])
        guard token.utf8.count <= Self.maximumTokenBytes else { throw .malformed }
        let header = try Self.header(of: token)
        guard header.alg == "RS256" else { throw .unsupportedAlgorithm }
        guard let kid = header.kid, !kid.isEmpty else { throw .malformed }
        guard let key = await keys.key(kid) else { throw .unknownKey }
        // RS256: RSASSA-PKCS1-v1_5 with SHA-256 over `header.claims`, as the header says and
        // nothing else (the algorithm is pinned above, never taken from the key).
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.count == 3, let signature = Base64.decodeURL(segments[2]), let claimBytes = Base64.decodeURL(segments[1]) else { throw .malformed }
        let signingInput = Data(token.utf8.prefix(segments[0].utf8.count + 1 + segments[1].utf8.count))
        guard key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: signingInput, padding: .insecurePKCS1v1_5) else {
            throw .signatureMismatch
        }
        guard let claims = try? JSONDecoder().decode(GooglePushClaims.self, from: Data(claimBytes)) else { throw .malformed }
        guard let issuer = claims.iss, Self.issuers.contains(issuer) else { throw .wrongIssuer }
        guard claims.aud == audience else { throw .wrongAudience }
        guard claims.email == serviceAccountEmail else { throw .wrongEmail }
        guard claims.email_verified == true else { throw .emailNotVerified }
        guard let expires = claims.exp, Double(expires) + Self.skew > now.timeIntervalSince1970 else { throw .expired }
        if let issued = claims.iat, Double(issued) - Self.skew > now.timeIntervalSince1970 { throw .notYetValid }
        return claims
    }

    private struct Header: Decodable {
        let alg: String?
        let kid: String?
    }

    private static func header(of token: String) throws(GooglePushTokenFailure) -> Header {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64.decodeURL(utf8: parts[0]),
              let header = try? JSONDecoder().decode(Header.self, from: Data(bytes)) else { throw .malformed }
        return header
    }
}

/// What Tollgate reads of a Pub/Sub push token (Google's OIDC ID token).
public struct GooglePushClaims: Codable, Sendable, Equatable {
    public var iss: String?
    public var aud: String?
    public var email: String?
    public var email_verified: Bool?
    public var exp: Int64?
    public var iat: Int64?
    public var sub: String?

    public init(iss: String?, aud: String?, email: String?, email_verified: Bool?, exp: Int64?, iat: Int64?, sub: String? = nil) {
        self.iss = iss
        self.aud = aud
        self.email = email
        self.email_verified = email_verified
        self.exp = exp
        self.iat = iat
        self.sub = sub
    }
}

/// Why a push token was refused.
public enum GooglePushTokenFailure: String, Error, Sendable, CaseIterable {
    case missingToken = "missing_token"
    /// Not `Bearer <three base64url parts>`, a header without `kid`, claims that do not decode.
    case malformed
    case unsupportedAlgorithm = "unsupported_algorithm"
    /// No published key has the token's `kid`, even after refetching the keys.
    case unknownKey = "unknown_key"
    case signatureMismatch = "signature_mismatch"
    case wrongIssuer = "wrong_issuer"
    case wrongAudience = "wrong_audience"
    case wrongEmail = "wrong_email"
    case emailNotVerified = "email_not_verified"
    case expired
    case notYetValid = "not_yet_valid"
}

/// Google's published signing keys (a JWKS document: `https://www.googleapis.com/oauth2/v3/certs`,
/// or a file operators keep), cached. A token whose `kid` is not in the cache makes one refetch
/// (Google rotates its keys), at most once per `refreshInterval` however many such tokens arrive,
/// so forged `kid`s cannot turn the edge into a request amplifier against Google. A fetch in
/// flight is awaited by every token that needs it (the first pushes after a start all wait for
/// the one fetch rather than being refused), and one that does not answer within `fetchTimeout`
/// fails, keeping the keys in force.
public actor GoogleSigningKeys {
    public typealias Fetch = @Sendable () async throws -> [UInt8]

    private let fetch: Fetch
    private let refreshInterval: Duration
    private let fetchTimeout: Duration
    private let now: @Sendable () -> Date
    private var keys: [String: _RSA.Signing.PublicKey] = [:]
    private var lastFetch: Date?
    private var refreshing: Task<Void, Never>?
    /// How many times the document was fetched (for tests and metrics).
    public private(set) var fetches = 0

    /// - Parameters:
    ///   - fetch: reads the JWKS document (a file, or an HTTPS GET).
    ///   - refreshInterval: the least time between two fetches (at least a second).
    ///   - now: the clock (injected in tests).
    public init(refreshInterval: Duration = .seconds(60), fetchTimeout: Duration = .seconds(10), now: @escaping @Sendable () -> Date = { Date() },
                fetch: @escaping Fetch) {
        self.fetch = fetch
        self.refreshInterval = max(refreshInterval, .seconds(1))
        self.fetchTimeout = fetchTimeout
        self.now = now
    }

    /// The key named `kid`: from the cache, or after a refetch the interval allows.
    func key(_ kid: String) async -> _RSA.Signing.PublicKey? {
        if keys[kid] == nil {
            if let refreshing {
                await refreshing.value
            } else if let started = refreshIfAllowed() {
                await started.value
            }
        }
        return keys[kid]
    }

    /// Starts a fetch unless one ran within the interval; the fetch's task, or nil.
    private func refreshIfAllowed() -> Task<Void, Never>? {
        let start = now()
        if let lastFetch, start.timeIntervalSince(lastFetch) < refreshInterval.seconds { return nil }
        lastFetch = start
        fetches += 1
        let fetch = self.fetch, timeout = fetchTimeout
        let task = Task {
            let document: [UInt8]? = if case .success(let bytes)? = await resultWithin(timeout, { try await fetch() }) { bytes } else { nil }
            await self.install(document.map(Self.signingKeys) ?? [:])
        }
        refreshing = task
        return task
    }

    private func install(_ fresh: [String: _RSA.Signing.PublicKey]) {
        refreshing = nil
        // A failed or empty fetch keeps the keys in force.
        guard !fresh.isEmpty else { return }
        keys = fresh
    }

    /// The document's RSA signing keys for RS256 by `kid`, each read on its own: an entry of
    /// another type (an EC or symmetric key, a key with private parameters, another algorithm,
    /// fewer than 2048 bits) is left out, never fatal to the rest.
    public static func signingKeys(_ document: [UInt8]) -> [String: _RSA.Signing.PublicKey] {
        guard document.count <= 256 * 1024, let object = try? JSONSerialization.jsonObject(with: Data(document)) as? [String: Any],
              let entries = object["keys"] as? [[String: Any]] else { return [:] }
        var keys: [String: _RSA.Signing.PublicKey] = [:]
        for entry in entries.prefix(32) {
            guard entry["kty"] as? String == "RSA", entry["d"] == nil, let kid = entry["kid"] as? String, !kid.isEmpty,
                  ["sig", nil].contains(entry["use"] as? String), ["RS256", nil].contains(entry["alg"] as? String),
                  let n = (entry["n"] as? String).flatMap(Base64.decodeURL), let e = (entry["e"] as? String).flatMap(Base64.decodeURL),
                  let key = try? _RSA.Signing.PublicKey(n: n, e: e), key.keySizeInBits >= 2048 else { continue }
            keys[kid] = key
        }
        return keys
    }
}
