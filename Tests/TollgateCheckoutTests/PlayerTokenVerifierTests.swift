import Crypto
import Foundation
import JWTKit
import Testing
import TollgateCheckout

/// Player session tokens minted the way a Game Hub backend would (jwt-kit, HS256 and ES256).
@Suite struct PlayerTokenVerifierTests {
    static let secret = "game-hub-backend-hs256-secret-0001-rotation-2026"
    static let ecKey = P256.Signing.PrivateKey()

    static func mint(_ claims: PlayerTokenClaims, hs256 secret: String = secret, kid: String = "hub-2026") async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
    }

    static func mintES256(_ claims: PlayerTokenClaims, key: P256.Signing.PrivateKey = ecKey, kid: String = "hub-ec") async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: try ES256PrivateKey(backing: key), kid: JWKIdentifier(string: kid))
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
    }

    func verifier() async throws -> PlayerTokenVerifier {
        try await PlayerTokenVerifier.make(tenant: "acme", keys: [
            .hs256(kid: "hub-2025", secret: "previous-secret-still-valid-for-rotation"),
            .hs256(kid: "hub-2026", secret: Self.secret),
            .es256(kid: "hub-ec", publicKeyPEM: Self.ecKey.publicKey.pemRepresentation),
        ])
    }

    func outcome(_ token: String, player: String? = "p1") async throws -> String {
        do {
            _ = try await verifier().verify(authorization: "Bearer \(token)", playerID: player)
            return "ok"
        } catch {
            return "\(error)"
        }
    }

    static let valid = PlayerTokenClaims(subject: "p1", audience: "acme", expires: Date().addingTimeInterval(600))

    @Test func validTokensFromEveryConfiguredKeyPass() async throws {
        #expect(try await outcome(try await Self.mint(Self.valid)) == "ok")
        #expect(try await outcome(try await Self.mint(Self.valid, hs256: "previous-secret-still-valid-for-rotation", kid: "hub-2025")) == "ok")
        #expect(try await outcome(try await Self.mintES256(Self.valid)) == "ok")
    }

    @Test func badTokensAreRefusedWithTheirReason() async throws {
        let expired = PlayerTokenClaims(subject: "p1", audience: "acme", expires: Date().addingTimeInterval(-5))
        let early = PlayerTokenClaims(subject: "p1", audience: "acme", expires: Date().addingTimeInterval(600), notBefore: Date().addingTimeInterval(300))
        let otherTenant = PlayerTokenClaims(subject: "p1", audience: "globex", expires: Date().addingTimeInterval(600))
        #expect(try await outcome(try await Self.mint(expired)) == "expired")
        #expect(try await outcome(try await Self.mint(early)) == "notYetValid")
        #expect(try await outcome(try await Self.mint(otherTenant)) == "wrongAudience")
        #expect(try await outcome(try await Self.mint(Self.valid), player: "p2") == "subjectMismatch")
        #expect(try await outcome(try await Self.mint(Self.valid, hs256: "a-guessed-secret-that-is-long-enough-for-hs256")) == "invalid")
        #expect(try await outcome(try await Self.mint(Self.valid, kid: "unknown-kid")) == "invalid")
        #expect(try await outcome(try await Self.mintES256(Self.valid, key: P256.Signing.PrivateKey())) == "invalid")
        #expect(try await outcome("not.a.jwt") == "invalid")
        // An unsigned token ("alg":"none") must never pass.
        let header = Data(#"{"alg":"none","typ":"JWT","kid":"hub-2026"}"#.utf8).base64EncodedString()
        let payload = Data(#"{"sub":"p1","aud":"acme","exp":4102444800}"#.utf8).base64EncodedString()
        #expect(try await outcome("\(header).\(payload).") == "invalid")
    }

    @Test func shortHS256SecretsAreRefusedAtConfiguration() async {
        await #expect(throws: PlayerTokenKeyError.hs256SecretTooShort(kid: "weak")) {
            _ = try await PlayerTokenVerifier.make(tenant: "acme", keys: [.hs256(kid: "weak", secret: "short")])
        }
    }

    @Test func missingOrNonBearerAuthorizationIsMissing() async throws {
        let verifier = try await verifier()
        await #expect(throws: PlayerTokenError.missing) { try await verifier.verify(authorization: nil, playerID: nil) }
        await #expect(throws: PlayerTokenError.missing) { try await verifier.verify(authorization: "Basic abc", playerID: nil) }
    }
}
