import Crypto
import Foundation
import TollgateCheckout

/// The player-token front (`player-token`): `PlayerTokenVerifier.verify` on an `Authorization`
/// value, with one HS256 and one ES256 key configured for tenant `fuzz`.
///
/// The first byte picks the mode (bit 0) and whether a player id is required (bit 1):
/// - raw (0): the rest is the bearer token as sent (seeds: tokens minted for the fixtures).
/// - signed (1): the rest is `header JSON`, a newline, `claims JSON`; the token is assembled and
///   HS256-signed with the configured secret, so jwt-kit gets past the MAC to the header and claims.
/// Invariants: a token that verifies carries a signature valid under a configured key (recomputed
/// here, independently of jwt-kit), names tenant `fuzz` in `aud`, and `sub` is the player asked for.
enum PlayerTokenTarget {
    static let hs256Secret = "fuzz-player-token-key-0123456789abcdef"
    /// Derived from a fixed scalar by Fuzz/make_seeds.py (`--public-key`), which signs the ES256 seeds.
    static let es256PublicKeyPEM = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE1ME3cxM275pcmglMVtrYJ3m3CLuT
        aCcmae+pw8OryaJQWYkiqjcQ9g6ECrNCqv84RyXBi5FlY96hwNd0WKkGAg==
        -----END PUBLIC KEY-----
        """
    static let player = "player-1"

    static let verifier: PlayerTokenVerifier = runBlocking {
        // Both keys are valid constants: a failure here is a broken build, not a fuzz finding.
        try! await PlayerTokenVerifier.make(tenant: "fuzz", keys: [
            .hs256(kid: "fuzz-hs256", secret: hs256Secret), .es256(kid: "fuzz-es256", publicKeyPEM: es256PublicKeyPEM),
        ])
    }

    static let target = FuzzTarget("player-token", "Authorization: Bearer <JWT> -> claims or refusal; success implies a valid signature, aud and sub") { bytes throws(FuzzInvariantViolation) in
        guard let mode = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        let token = mode & 1 == 0 ? String(decoding: rest, as: UTF8.self) : signedToken(rest)
        let playerID = mode & 2 == 0 ? player : nil
        let verifier = verifier
        let claims = runBlocking { () async -> PlayerTokenClaims? in try? await verifier.verify(authorization: "Bearer " + token, playerID: playerID) }
        guard let claims else { return }
        func violation(_ message: String) -> FuzzInvariantViolation { FuzzInvariantViolation(target: "player-token", message: message) }
        guard claims.aud.value.contains("fuzz") else { throw violation("a token for audience \(claims.aud.value) verified for tenant fuzz") }
        if let playerID, claims.sub.value != playerID { throw violation("a token for \(claims.sub.value) verified for \(playerID)") }
        guard hasValidSignature(token) else { throw violation("a token verified without a signature valid under a configured key") }
    }

    /// `base64url(header).base64url(claims).base64url(HS256)`, from `header JSON \n claims JSON`.
    static func signedToken(_ bytes: [UInt8]) -> String {
        let newline = bytes.firstIndex(of: 0x0A)
        let header = newline.map { Array(bytes[..<$0]) } ?? Array(#"{"alg":"HS256","kid":"fuzz-hs256","typ":"JWT"}"#.utf8)
        let claims = newline.map { Array(bytes[($0 + 1)...]) } ?? bytes
        let input = base64URL(header) + "." + base64URL(claims)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: Array(hs256Secret.utf8)))
        return input + "." + base64URL(Array(mac))
    }

    /// Recomputes the signature check from RFC 7515: HS256 under the secret or ES256 (r||s) under the public key.
    static func hasValidSignature(_ token: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let signature = base64URLDecode(parts[2]) else { return false }
        let input = Array("\(parts[0]).\(parts[1])".utf8)
        let mac = Array(HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: Array(hs256Secret.utf8))))
        if signature == mac { return true }
        guard let key = try? P256.Signing.PublicKey(pemRepresentation: es256PublicKeyPEM),
              let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
        else { return false }
        return key.isValidSignature(ecdsa, for: input)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: Substring) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if standard.count % 4 != 0 { standard += String(repeating: "=", count: 4 - standard.count % 4) }
        return Data(base64Encoded: standard).map(Array.init)
    }
}
