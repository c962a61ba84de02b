import Foundation
import JWTKit

/// The claims of a player session token that a tenant's Game Hub backend signs.
public struct PlayerTokenClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var aud: AudienceClaim
    public var exp: ExpirationClaim
    public var nbf: NotBeforeClaim?
    /// The player's country (ISO 3166-1 alpha-2) as the Game Hub backend established it (billing
    /// address, store region): the only country a regional price is ever given for. A country in
    /// the order body is the page's word, which the player controls.
    public var country: String?

    public init(subject: String, audience: String, expires: Date, notBefore: Date? = nil, country: String? = nil) {
        self.sub = SubjectClaim(value: subject)
        self.aud = AudienceClaim(value: [audience])
        self.exp = ExpirationClaim(value: expires)
        self.nbf = notBefore.map { NotBeforeClaim(value: $0) }
        self.country = country
    }

    /// `country` when it is a well-formed ISO 3166-1 alpha-2 code; anything else vouches for nothing.
    public var verifiedCountry: String? {
        guard let country, country.count == 2, country.allSatisfy({ $0.isASCII && $0.isUppercase }) else { return nil }
        return country
    }

    /// Expiry and not-before; the audience is checked by ``PlayerTokenVerifier``, which knows the tenant.
    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try nbf?.verifyNotBefore()
    }
}

/// One verification key of a tenant: an HS256 secret or an ES256 public key (PEM), with its id.
public enum PlayerTokenKey: Sendable {
    case hs256(kid: String, secret: String)
    case es256(kid: String, publicKeyPEM: String)
}

public enum PlayerTokenKeyError: Error, Sendable, Equatable {
    case hs256SecretTooShort(kid: String)
}

/// Why a bearer token was refused (all answered 401; the reason goes to logs and metrics).
public enum PlayerTokenError: Error, Sendable, Equatable {
    case missing
    case invalid          // signature, format, unknown key, algorithm
    case expired
    case notYetValid
    case wrongAudience
    case subjectMismatch
}

/// Verifies `Authorization: Bearer` player session tokens with jwt-kit: signature (any of the
/// tenant's keys, selected by `kid`, so keys can rotate), `exp`, `nbf`, `aud` = tenant, and that
/// `sub` is the player the request names.
public struct PlayerTokenVerifier: Sendable {
    let tenant: String
    let keys: JWTKeyCollection

    public static func make(tenant: String, keys: [PlayerTokenKey]) async throws -> PlayerTokenVerifier {
        let collection = JWTKeyCollection()
        for key in keys {
            switch key {
            case let .hs256(kid, secret):
                // RFC 7518 section 3.2: an HS256 key must be at least as long as the hash (32 bytes).
                guard secret.utf8.count >= 32 else { throw PlayerTokenKeyError.hs256SecretTooShort(kid: kid) }
                await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
            case let .es256(kid, pem):
                await collection.add(ecdsa: try ES256PublicKey(pem: pem), kid: JWKIdentifier(string: kid))
            }
        }
        // jwt-kit falls back to its first key for a token without a known `kid`; we do not guess.
        await collection.clearDefault()
        return PlayerTokenVerifier(tenant: tenant, keys: collection)
    }

    /// Verifies `authorization` (the header value). If `playerID` is given, `sub` must equal it.
    public func verify(authorization: String?, playerID: String?) async throws(PlayerTokenError) -> PlayerTokenClaims {
        guard let authorization, authorization.hasPrefix("Bearer "), authorization.count > 7 else { throw .missing }
        let token = String(authorization.dropFirst(7))
        let claims: PlayerTokenClaims
        do {
            claims = try await keys.verify(token, as: PlayerTokenClaims.self)
        } catch let error as JWTError {
            switch error.errorType {
            case .claimVerificationFailure:
                if error.failedClaim is ExpirationClaim { throw .expired }
                if error.failedClaim is NotBeforeClaim { throw .notYetValid }
                throw .invalid
            default:
                throw .invalid
            }
        } catch {
            throw .invalid
        }
        guard claims.aud.value.contains(tenant) else { throw .wrongAudience }
        if let playerID, claims.sub.value != playerID { throw .subjectMismatch }
        return claims
    }
}

/// Signs player session tokens with an HS256 key, as a tenant's Game Hub backend does: for
/// `tollgate token` (development), the load generator and tests. Production tokens come from the
/// tenant's own backend.
public enum PlayerTokenMinter {
    public static func hs256(secret: String, kid: String, tenant: String, player: String,
                             expires: Date, notBefore: Date? = nil, country: String? = nil) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        // NumericDate in whole seconds, as backends send it.
        func whole(_ date: Date) -> Date { Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)) }
        return try await keys.sign(PlayerTokenClaims(subject: player, audience: tenant, expires: whole(expires), notBefore: notBefore.map(whole), country: country),
                                   kid: JWKIdentifier(string: kid))
    }
}
