import _CryptoExtras
import Crypto
import Foundation
import SwiftASN1
import TollgateCore
import TollgateSignatures
import X509

/// The token- and certificate-signed schemes that have no `Provider` case yet: Google Pub/Sub push
/// tokens (`verify-google-push`) and PayPal webhooks (`verify-paypal`). Keys and certificates are
/// made once per process; nothing is fetched from the network (the fetchers serve them).
///
/// The first input byte picks the mode (bit 0), the rest is the request:
/// - raw (0): for Google the `Authorization` value; for PayPal `Name: value` lines, a blank line,
///   the body. Whatever it is, it must not trap; a PayPal request that verifies must stop
///   verifying with a byte appended to its body.
/// - signed (1): for Google the rest is the claims JSON, signed by the harness's published key:
///   it verifies exactly when the claims are the subscription's; for PayPal the rest is a body,
///   signed as PayPal would: it verifies, and with a byte appended it does not.
enum CertificateCallbackTargets {
    static let now = Date(timeIntervalSince1970: 1_780_000_000)
    static let audience = "https://tollgate.example/v1/webhooks/fuzz/play"
    static let email = "rtdn@fuzz-project.iam.gserviceaccount.com"

    static let all: [FuzzTarget] = [
        FuzzTarget("verify-google-push", "Pub/Sub push token parsing and verification; a token the harness signs verifies iff its claims are the subscription's") {
            bytes throws(FuzzInvariantViolation) in try google(bytes)
        },
        FuzzTarget("verify-paypal", "PayPal header parsing, certificate URL allow-list and verification; sign/verify agree; a changed body fails") {
            bytes throws(FuzzInvariantViolation) in try paypal(bytes)
        },
    ]

    // MARK: Google

    struct GoogleHarness: Sendable {
        let key: _RSA.Signing.PrivateKey
        let verifier: GooglePushTokenVerifier

        /// An RS256 JWT of `claims` under the published key "fuzz".
        func token(_ claims: GooglePushClaims) -> String? {
            guard let body = try? JSONEncoder().encode(claims) else { return nil }
            let input = Base64.encodeURL(Array(#"{"alg":"RS256","kid":"fuzz"}"#.utf8)) + "." + Base64.encodeURL(body)
            guard let signature = try? key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5) else { return nil }
            return input + "." + Base64.encodeURL(signature.rawRepresentation)
        }
    }

    static let googleHarness: GoogleHarness? = {
        guard let key = try? _RSA.Signing.PrivateKey(keySize: .bits2048), let primitives = try? key.publicKey.getKeyPrimitives() else { return nil }
        let jwk = ["kty": "RSA", "alg": "RS256", "kid": "fuzz", "n": Base64.encodeURL(primitives.modulus), "e": Base64.encodeURL(primitives.publicExponent)]
        let document = Array((try? JSONSerialization.data(withJSONObject: ["keys": [jwk]])) ?? Data())
        let keys = GoogleSigningKeys(now: { now }, fetch: { document })
        return GoogleHarness(key: key, verifier: GooglePushTokenVerifier(audience: audience, serviceAccountEmail: email, keys: keys))
    }()

    static func google(_ bytes: [UInt8]) throws(FuzzInvariantViolation) {
        guard let mode = bytes.first, let harness = googleHarness else { return }
        let rest = Array(bytes.dropFirst())
        if mode & 1 == 0 {
            _ = runBlocking { () async -> Bool in
                (try? await harness.verifier.verify(authorization: String(decoding: rest, as: UTF8.self), now: now)) != nil
            }
            return
        }
        guard let claims = try? JSONDecoder().decode(GooglePushClaims.self, from: Data(rest)) else { return }
        guard let token = harness.token(claims) else { return }
        let verified: Bool? = runBlocking { () async -> Bool? in
            (try? await harness.verifier.verify(authorization: "Bearer \(token)", now: now)) != nil
        }
        guard let verified else { return }
        let expected = claims.iss.map { ["accounts.google.com", "https://accounts.google.com"].contains($0) } == true
            && claims.aud == audience && claims.email == email && claims.email_verified == true
            && claims.exp.map { Double($0) + 60 > now.timeIntervalSince1970 } == true
            && claims.iat.map { Double($0) - 60 <= now.timeIntervalSince1970 } != false
        if verified != expected {
            throw FuzzInvariantViolation(target: "verify-google-push", message: "claims \(claims) verified: \(verified), expected \(expected)")
        }
    }

    // MARK: PayPal

    static let webhookID = "FUZZ4291016473214C"
    static let certificateURL = "https://api.paypal.com/v1/notifications/certs/CERT-fuzz"

    struct PayPalHarness: Sendable {
        let key: _RSA.Signing.PrivateKey
        let verifier: PayPalSignatureVerifier
    }

    static let paypalHarness: PayPalHarness? = try? makePayPalHarness()

    /// A root, PayPal's leaf under it (an RSA key), and a verifier trusting the root whose
    /// certificate source serves the leaf for any allowed URL.
    static func makePayPalHarness() throws -> PayPalHarness {
        let leafKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let rootKey = P256.Signing.PrivateKey()
        let rootName = try DistinguishedName { CommonName("Fuzz Root") }
        let leafName = try DistinguishedName { CommonName("messageverificationcerts.paypal.com") }
        let root = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(rootKey.publicKey), notValidBefore: now.addingTimeInterval(-86_400 * 365),
            notValidAfter: now.addingTimeInterval(86_400 * 365), issuer: rootName, subject: rootName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                KeyUsage(keyCertSign: true)
            },
            issuerPrivateKey: .init(rootKey))
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey), notValidBefore: now.addingTimeInterval(-86_400),
            notValidAfter: now.addingTimeInterval(86_400 * 30), issuer: rootName, subject: leafName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                KeyUsage(digitalSignature: true)
            },
            issuerPrivateKey: .init(rootKey))
        func der(_ certificate: Certificate) throws -> [UInt8] {
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        }
        let pem = Array(PEMDocument(type: "CERTIFICATE", derBytes: try der(leaf)).pemString.utf8)
        let certificates = try PayPalCertificates(roots: [try der(root)], fetch: { _ in pem })
        return PayPalHarness(key: leafKey, verifier: PayPalSignatureVerifier(webhookID: webhookID, certificates: certificates))
    }

    static func paypal(_ bytes: [UInt8]) throws(FuzzInvariantViolation) {
        guard let mode = bytes.first, let harness = paypalHarness else { return }
        let name = "verify-paypal"
        if mode & 1 == 0 {
            let (headers, body) = FuzzInput.request(bytes.dropFirst())
            guard outcome(harness.verifier, headers, body) == nil else { return }
            if outcome(harness.verifier, headers, body + [0x78]) == nil {
                throw FuzzInvariantViolation(target: name, message: "a request verifies with and without a byte appended to its body")
            }
            return
        }
        let body = Array(bytes.dropFirst())
        // One transmission id per body: the verifier binds an id to the body it verified with.
        let id = "fuzz-" + Array(SHA256.hash(data: body).prefix(8)).hexEncoded, time = ISO8601Timestamp.format(now)
        let signed = PayPalSignatureVerifier.signedString(transmissionID: id, time: time, webhookID: webhookID, body: body)
        guard let signature = try? harness.key.signature(for: Data(signed.utf8), padding: .insecurePKCS1v1_5) else { return }
        let headers: [(name: String, value: String)] = [
            ("PAYPAL-TRANSMISSION-ID", id), ("PAYPAL-TRANSMISSION-TIME", time), ("PAYPAL-TRANSMISSION-SIG", signature.rawRepresentation.base64EncodedString()),
            ("PAYPAL-CERT-URL", certificateURL), ("PAYPAL-AUTH-ALGO", "SHA256withRSA"),
        ]
        if let failure = outcome(harness.verifier, headers, body) {
            throw FuzzInvariantViolation(target: name, message: "a webhook signed as PayPal signs fails with \(failure)")
        }
        if outcome(harness.verifier, headers, body + [0x78]) == nil {
            throw FuzzInvariantViolation(target: name, message: "a signed webhook still verifies with a byte appended to its body")
        }
    }

    static func outcome(_ verifier: PayPalSignatureVerifier, _ headers: [(name: String, value: String)], _ body: [UInt8]) -> PayPalVerificationFailure? {
        let request = SignedRequest(headers: headers, body: body)
        return runBlocking { () async -> PayPalVerificationFailure? in
            do throws(PayPalVerificationFailure) {
                try await verifier.verify(request, now: now)
                return nil
            } catch {
                return error
            }
        }
    }
}
