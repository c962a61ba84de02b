import _CryptoExtras
import Foundation
import NIOConcurrencyHelpers
import Testing
import TollgateCore
@testable import TollgateSignatures

/// Pub/Sub push tokens (Google Play real-time developer notifications): RS256 under Google's
/// published keys, Google's issuer, the subscription's audience and service account, a verified
/// email and an unexpired token; keys refetched once on an unknown `kid`, never more than once a
/// minute. The keys are made here (2048-bit RSA) and published as Google publishes its own: a
/// JWKS of `n` and `e`.
@Suite struct GooglePushTokenVerifierTests {
    static let audience = "https://tollgate.example/v1/webhooks/game/play"
    static let email = "play-rtdn@game-project.iam.gserviceaccount.com"
    static let now = Date(timeIntervalSince1970: 1_780_000_000)

    /// A signing key with its `kid`, and the JWKS entry Google would publish for it.
    struct SigningKey {
        let kid: String
        let key: _RSA.Signing.PrivateKey
        let jwk: [String: String]

        init(kid: String) async throws {
            key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            self.kid = kid
            let primitives = try key.publicKey.getKeyPrimitives()
            jwk = ["kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": Base64.encodeURL(primitives.modulus),
                   "e": Base64.encodeURL(primitives.publicExponent)]
        }

        /// An RS256 JWT of `claims` under this key, as Google signs its ID tokens.
        func token(_ claims: GooglePushClaims) async throws -> String {
            let header = Base64.encodeURL(Array(#"{"alg":"RS256","kid":"\#(kid)","typ":"JWT"}"#.utf8))
            let input = header + "." + Base64.encodeURL(try JSONEncoder().encode(claims))
            let signature = try key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
            return input + "." + Base64.encodeURL(signature.rawRepresentation)
        }
    }

    static func jwks(_ keys: [SigningKey]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: ["keys": keys.map(\.jwk)])) ?? Data())
    }

    static func claims(aud: String = audience, email: String = email, verified: Bool? = true, iss: String = "https://accounts.google.com",
                       exp: Date = now.addingTimeInterval(3600), iat: Date = now) -> GooglePushClaims {
        GooglePushClaims(iss: iss, aud: aud, email: email, email_verified: verified, exp: Int64(exp.timeIntervalSince1970),
                         iat: Int64(iat.timeIntervalSince1970), sub: "112233445566778899000")
    }

    /// A verifier whose keys come from `published` (what the JWKS URL serves now) on a clock the test moves.
    final class Google: Sendable {
        let published = NIOLockedValueBox<[UInt8]>([])
        let clock = NIOLockedValueBox<Date>(GooglePushTokenVerifierTests.now)
        let keys: GoogleSigningKeys
        let verifier: GooglePushTokenVerifier

        init(publishing: [SigningKey], fetchTakes: Duration = .zero) {
            published.withLockedValue { $0 = GooglePushTokenVerifierTests.jwks(publishing) }
            let published = self.published, clock = self.clock
            keys = GoogleSigningKeys(now: { clock.withLockedValue { $0 } }, fetch: {
                if fetchTakes > .zero { try await Task.sleep(for: fetchTakes) }
                return published.withLockedValue { $0 }
            })
            verifier = GooglePushTokenVerifier(audience: GooglePushTokenVerifierTests.audience, serviceAccountEmail: GooglePushTokenVerifierTests.email, keys: keys)
        }

        func failure(_ authorization: String?) async -> GooglePushTokenFailure? {
            do throws(GooglePushTokenFailure) {
                _ = try await verifier.verify(authorization: authorization, now: clock.withLockedValue { $0 })
                return nil
            } catch {
                return error
            }
        }
    }

    @Test func aTokenGoogleSignedForThisSubscriptionVerifies() async throws {
        let key = try await SigningKey(kid: "g1")
        let google = Google(publishing: [key])
        let token = try await key.token(Self.claims())
        let claims = try await google.verifier.verify(authorization: "Bearer \(token)", now: Self.now)
        #expect(claims.email == Self.email && claims.aud == Self.audience)
        #expect(await google.failure("bearer \(token)") == nil, "the scheme is case-insensitive")
        #expect(await google.keys.fetches == 1, "fetched once, then cached")
        #expect(await google.failure("Bearer \(try await key.token(Self.claims(iss: "accounts.google.com")))") == nil, "both issuer spellings")
    }

    @Test func everyClaimThatIsNotThisSubscriptionsIsRefused() async throws {
        let key = try await SigningKey(kid: "g1")
        let google = Google(publishing: [key])
        func refusal(_ claims: GooglePushClaims) async throws -> GooglePushTokenFailure? {
            await google.failure("Bearer \(try await key.token(claims))")
        }
        #expect(try await refusal(Self.claims(aud: "https://other.example/push")) == .wrongAudience)
        #expect(try await refusal(Self.claims(email: "someone-else@other-project.iam.gserviceaccount.com")) == .wrongEmail)
        #expect(try await refusal(Self.claims(verified: false)) == .emailNotVerified)
        #expect(try await refusal(Self.claims(verified: nil)) == .emailNotVerified)
        #expect(try await refusal(Self.claims(iss: "https://evil.example")) == .wrongIssuer)
        #expect(try await refusal(Self.claims(exp: Self.now.addingTimeInterval(-120))) == .expired)
        #expect(try await refusal(Self.claims(iat: Self.now.addingTimeInterval(600))) == .notYetValid)
        var noExpiry = Self.claims()
        noExpiry.exp = nil
        #expect(try await refusal(noExpiry) == .expired, "a token without exp never verifies")
    }

    @Test func aTokenSignedByAnotherKeyUnderAPublishedKidIsRefused() async throws {
        let genuine = try await SigningKey(kid: "g1"), forger = try await SigningKey(kid: "g1")
        let google = Google(publishing: [genuine])
        #expect(await google.failure("Bearer \(try await forger.token(Self.claims()))") == .signatureMismatch)
        // Its own key, published nowhere Google publishes: an unknown kid.
        let stranger = try await SigningKey(kid: "forged-kid")
        #expect(await google.failure("Bearer \(try await stranger.token(Self.claims()))") == .unknownKey)
    }

    @Test func anUnknownKidRefetchesOnceAMinuteAtMostThenRotatedKeysVerify() async throws {
        let old = try await SigningKey(kid: "g-old"), rotated = try await SigningKey(kid: "g-new")
        let google = Google(publishing: [old])
        #expect(await google.failure("Bearer \(try await old.token(Self.claims()))") == nil)
        #expect(await google.keys.fetches == 1)
        // Google rotates: tokens under the new kid arrive before the edge refetched.
        google.published.withLockedValue { $0 = Self.jwks([old, rotated]) }
        let token = try await rotated.token(Self.claims())
        google.clock.withLockedValue { $0 = $0.addingTimeInterval(30) }
        #expect(await google.failure("Bearer \(token)") == .unknownKey, "within a minute of the last fetch: no refetch")
        for _ in 0..<20 { _ = await google.failure("Bearer \(token)") }
        #expect(await google.keys.fetches == 1, "unknown kids do not make requests to Google")
        google.clock.withLockedValue { $0 = $0.addingTimeInterval(31) }
        #expect(await google.failure("Bearer \(token)") == nil, "a minute on: one refetch, and the rotated key verifies")
        #expect(await google.keys.fetches == 2)
        // A kid that is still unknown after a refetch is refused, and refetched a minute later at most.
        let stranger = try await SigningKey(kid: "never-published")
        google.clock.withLockedValue { $0 = $0.addingTimeInterval(61) }
        #expect(await google.failure("Bearer \(try await stranger.token(Self.claims(exp: Self.now.addingTimeInterval(7200))))") == .unknownKey)
        #expect(await google.keys.fetches == 3)
        #expect(await google.failure("Bearer \(try await stranger.token(Self.claims(exp: Self.now.addingTimeInterval(7200))))") == .unknownKey)
        #expect(await google.keys.fetches == 3)
    }

    /// The first pushes after a start arrive together: they all wait for the one fetch.
    @Test func concurrentPushesAtStartShareOneFetchAndAllVerify() async throws {
        let key = try await SigningKey(kid: "g1")
        let google = Google(publishing: [key], fetchTakes: .milliseconds(100))
        let token = try await key.token(Self.claims())
        let failures = await withTaskGroup(of: GooglePushTokenFailure?.self) { group in
            for _ in 0..<50 { group.addTask { await google.failure("Bearer \(token)") } }
            var all: [GooglePushTokenFailure?] = []
            for await failure in group { all.append(failure) }
            return all
        }
        #expect(failures.allSatisfy { $0 == nil }, "\(failures.compactMap { $0 })")
        #expect(await google.keys.fetches == 1)
    }

    /// Entries Tollgate cannot use (a symmetric key, an EC key, a key with private parameters, an
    /// RS384 key) are left out; the RSA signing keys beside them still load.
    @Test func unusableEntriesInTheDocumentDoNotHideTheUsableKeys() async throws {
        let key = try await SigningKey(kid: "g1")
        var entries: [[String: String]] = [
            ["kty": "oct", "kid": "sym", "k": "c2VjcmV0"],
            ["kty": "EC", "kid": "ec", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"],
            key.jwk,
        ]
        var withPrivate = key.jwk
        withPrivate["kid"] = "private"
        withPrivate["d"] = "AQAB"
        var rs384 = key.jwk
        rs384["kid"] = "rs384"
        rs384["alg"] = "RS384"
        entries += [withPrivate, rs384]
        let google = Google(publishing: [])
        google.published.withLockedValue { $0 = Array((try? JSONSerialization.data(withJSONObject: ["keys": entries])) ?? Data()) }
        #expect(await google.failure("Bearer \(try await key.token(Self.claims()))") == nil)
        #expect(GoogleSigningKeys.signingKeys(google.published.withLockedValue { $0 }).keys.sorted() == ["g1"])
        // Without `alg` (Google's documents carry it; a file may not), the token's pinned RS256 is used.
        var bare = key.jwk
        bare.removeValue(forKey: "alg")
        google.published.withLockedValue { $0 = Array((try? JSONSerialization.data(withJSONObject: ["keys": [bare]])) ?? Data()) }
        let fresh = Google(publishing: [])
        fresh.published.withLockedValue { $0 = google.published.withLockedValue { $0 } }
        #expect(await fresh.failure("Bearer \(try await key.token(Self.claims()))") == nil)
    }

    @Test func aFailedOrEmptyFetchKeepsTheKeysInForce() async throws {
        let key = try await SigningKey(kid: "g1")
        let google = Google(publishing: [key])
        let token = try await key.token(Self.claims(exp: Self.now.addingTimeInterval(7200)))
        #expect(await google.failure("Bearer \(token)") == nil)
        google.published.withLockedValue { $0 = Array("<html>502</html>".utf8) }
        google.clock.withLockedValue { $0 = $0.addingTimeInterval(120) }
        let stranger = try await SigningKey(kid: "other")
        #expect(await google.failure("Bearer \(try await stranger.token(Self.claims(exp: Self.now.addingTimeInterval(7200))))") == .unknownKey)
        #expect(await google.failure("Bearer \(token)") == nil, "the keys fetched before still verify")
    }

    @Test func whatIsNoRS256BearerTokenIsRefused() async throws {
        let key = try await SigningKey(kid: "g1")
        let google = Google(publishing: [key])
        let token = try await key.token(Self.claims())
        let parts = token.split(separator: ".").map(String.init)
        func header(_ json: String) -> String { Base64.encodeURL(Array(json.utf8)) }
        #expect(await google.failure(nil) == .missingToken)
        for value in ["", "Bearer", "Basic \(token)", "Bearer not-a-jwt", "Bearer a.b", "Bearer \(String(repeating: "a", count: 9000))"] {
            #expect(await google.failure(value) == .malformed, "\(value.prefix(20))")
        }
        #expect(await google.failure("Bearer \(header(#"{"alg":"HS256","kid":"g1"}"#)).\(parts[1]).\(parts[2])") == .unsupportedAlgorithm)
        #expect(await google.failure("Bearer \(header(#"{"alg":"none","kid":"g1"}"#)).\(parts[1]).") == .unsupportedAlgorithm)
        #expect(await google.failure("Bearer \(header(#"{"alg":"RS256"}"#)).\(parts[1]).\(parts[2])") == .malformed, "no kid")
        // The claims changed under the signature.
        let forgedClaims = Base64.encodeURL(try JSONEncoder().encode(Self.claims(aud: "https://other.example/push")))
        #expect(await google.failure("Bearer \(parts[0]).\(forgedClaims).\(parts[2])") == .signatureMismatch)
    }
}
