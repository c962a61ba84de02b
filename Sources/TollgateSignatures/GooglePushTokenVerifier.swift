import Foundation
import JWTKit
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
        guard let collection = await keys.collection(containing: kid) else { throw .unknownKey }
        let claims: GooglePushClaims
        do {
            claims = try await collection.verify(token, as: GooglePushClaims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .signatureMismatch
        } catch {
            throw .malformed
        }
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
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64.decodeURL(parts[0]),
              let header = try? JSONDecoder().decode(Header.self, from: Data(bytes)) else { throw .malformed }
        return header
    }
}

/// What Tollgate reads of a Pub/Sub push token (Google's OIDC ID token).
public struct GooglePushClaims: JWTPayload, Equatable {
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

    // The claims are checked against an injected clock by the verifier, not here (jwt-kit's own
    // expiration check reads the wall clock).
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
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
    private var collection: JWTKeyCollection?
    private var kids: Set<String> = []
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

    /// The keys, if one has `kid`: from the cache, or after a refetch the interval allows.
    func collection(containing kid: String) async -> JWTKeyCollection? {
        if !kids.contains(kid) {
            if let refreshing {
                await refreshing.value
            } else if let started = refreshIfAllowed() {
                await started.value
            }
        }
        return kids.contains(kid) ? collection : nil
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
            await self.install(document.map(Self.signingKeys) ?? [])
        }
        refreshing = task
        return task
    }

    private func install(_ keys: [JWK]) async {
        refreshing = nil
        let fresh = JWTKeyCollection()
        var added: Set<String> = []
        for key in keys {
            guard let kid = key.keyIdentifier?.string, (try? await fresh.add(jwk: key)) != nil else { continue }
            added.insert(kid)
        }
        // A failed or empty fetch keeps the keys in force.
        guard !added.isEmpty else { return }
        collection = fresh
        kids = added
    }

    /// The document's RSA signing keys for RS256, each read on its own: an entry of another type
    /// (an EC or symmetric key, a key with private parameters) is left out, never fatal to the rest.
    static func signingKeys(_ document: [UInt8]) -> [JWK] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(document)) as? [String: Any],
              let entries = object["keys"] as? [[String: Any]] else { return [] }
        return entries.compactMap { entry in
            guard entry["kty"] as? String == "RSA", entry["d"] == nil, entry["kid"] is String,
                  ["sig", nil].contains(entry["use"] as? String), ["RS256", nil].contains(entry["alg"] as? String),
                  let data = try? JSONSerialization.data(withJSONObject: entry) else { return nil }
            return try? JSONDecoder().decode(JWK.self, from: data)
        }
    }
}
