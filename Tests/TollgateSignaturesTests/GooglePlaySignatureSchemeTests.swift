import _CryptoExtras
import Foundation
import Testing
import TollgateCore
@testable import TollgateSignatures
import TollgateTestSupport

/// Google Play pushes as a source verifies them: the Pub/Sub token (its own checks are
/// GooglePushTokenVerifierTests) and then the app the notification is for, since the token does
/// not cover the body.
@Suite struct GooglePlaySignatureSchemeTests {
    static let scheme = GooglePlaySignatureScheme(verifier: ProviderLifecycle.googleVerifier(), packageNames: [ProviderLifecycle.googlePackage, "com.tollgate.other"])
    static let notification = Array(#"{"version":"1.0","eventTimeMillis":"1780000000000","oneTimeProductNotification":{"version":"1.0","notificationType":1,"purchaseToken":"tok","sku":"gems"}}"#.utf8)

    static func signer(key: GooglePushSigningKey? = ProviderLifecycle.googleKey, audience: String = ProviderLifecycle.googleAudience,
                       email: String = ProviderLifecycle.googleEmail, package: String = ProviderLifecycle.googlePackage) -> WebhookSigner {
        WebhookSigner(google: key, audience: audience, email: email, packageName: package)
    }

    static func verify(_ signed: WebhookSigner.SignedCallback, at now: Date = Date()) async -> VerificationFailure? {
        do {
            try await scheme.verify(SignedRequest(headers: signed.headers, body: signed.body), now: now)
            return nil
        } catch {
            return error
        }
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    @Test func aPushSignedWithThePublishedKeyForTheSubscriptionAndAppVerifies() async throws {
        let signed = Self.signer().sign(body: Self.notification, timestamp: Self.now, id: "1001")
        #expect(await Self.verify(signed) == nil)
        let push = try #require(GooglePlayPush(body: signed.body))
        #expect(push.messageID == "1001")
        #expect(push.notification?["packageName"] as? String == ProviderLifecycle.googlePackage)
        #expect(signed.headers.contains { $0.name == "Authorization" && $0.value.hasPrefix("Bearer ") })
        // Another of the source's apps (one topic takes the notifications of several).
        #expect(await Self.verify(Self.signer(package: "com.tollgate.other").sign(body: Self.notification, timestamp: Self.now, id: "1002")) == nil)
    }

    @Test func forgedMisdirectedExpiredAndUnsignedPushesAreRefusedWithTheirReason() async throws {
        let other = try GooglePushSigningKey(pem: try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation)
        let cases: [(String, WebhookSigner.SignedCallback, VerificationFailure)] = [
            ("a key Google did not publish", Self.signer(key: other).sign(body: Self.notification, timestamp: Self.now, id: "1"), .signatureMismatch),
            ("no key (the forger's throwaway)", Self.signer(key: nil).sign(body: Self.notification, timestamp: Self.now, id: "2"), .signatureMismatch),
            ("another subscription's audience", Self.signer(audience: "https://elsewhere.example/push").sign(body: Self.notification, timestamp: Self.now, id: "3"), .wrongRecipient),
            ("another service account", Self.signer(email: "someone@else.iam.gserviceaccount.com").sign(body: Self.notification, timestamp: Self.now, id: "4"), .wrongRecipient),
            ("another app's notification", Self.signer(package: "com.someone.else").sign(body: Self.notification, timestamp: Self.now, id: "5"), .wrongRecipient),
            ("a token two hours old", Self.signer().sign(body: Self.notification, timestamp: Self.now - 7200, id: "6"), .timestampTooOld),
            ("a token from the future", Self.signer().sign(body: Self.notification, timestamp: Self.now + 7200, id: "7"), .timestampInFuture),
        ]
        for (label, signed, reason) in cases {
            #expect(await Self.verify(signed) == reason, "\(label)")
        }
        let genuine = Self.signer().sign(body: Self.notification, timestamp: Self.now, id: "8")
        #expect(await Self.verify(.init(headers: [], body: genuine.body)) == .missingHeader)
        #expect(await Self.verify(.init(headers: [("Authorization", "Basic abc")], body: genuine.body)) == .malformedHeader)
        // The token is genuine, but the body is no Play notification: refused, never guessed at.
        for body in ["not json", #"{"message":{"data":"bm90IGpzb24=","messageId":"9"}}"#, #"{"message":{"messageId":"9"}}"#] {
            #expect(await Self.verify(.init(headers: genuine.headers, body: Array(body.utf8))) == .malformedBody, "\(body)")
        }
        // Without trust settings every push fails closed.
        let unconfigured = GooglePlaySignatureScheme(verifier: nil, packageNames: [])
        await #expect(throws: VerificationFailure.noUsableSecret) { try await unconfigured.verify(SignedRequest(headers: genuine.headers, body: genuine.body), now: Date()) }
    }

    @Test func aSigningKeyReadsFromPEMItsKidIsItsOwnAndItPublishesItself() throws {
        let pem = try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation
        let key = try GooglePushSigningKey(pem: pem)
        #expect(try GooglePushSigningKey(pem: pem).kid == key.kid)
        #expect(key.kid.hasPrefix("dev-") && key.kid.count == 20)
        #expect(Set(GoogleSigningKeys.signingKeys(Array(key.jwks.utf8)).keys) == [key.kid])
        #expect(throws: GoogleSigningKeyError.notAnRSAPrivateKey) { try GooglePushSigningKey(pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----") }
        let short = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024)).pemRepresentation
        #expect(throws: GoogleSigningKeyError.tooShort) { try GooglePushSigningKey(pem: short) }
    }
}
