import Crypto
import Foundation
import Testing
import TollgateCore
@testable import TollgateSignatures

/// The Apple callback as the edge receives it: `{"signedPayload": JWS}`, with every JWS inside
/// verified too. Apple's own TEST notification under its test root, and notifications made here
/// for what Apple's samples do not show (a nested transaction from another chain or app).
@Suite struct AppleSignatureSchemeTests {
    static func scheme(root: [UInt8], bundle: String = "com.example", environment: AppleSignedDataVerifier.Environment = .sandbox) throws -> AppleSignatureScheme {
        AppleSignatureScheme(verifier: try AppleSignedDataVerifier(rootCertificates: [root], bundleID: bundle, environment: environment))
    }

    static func failure(_ scheme: AppleSignatureScheme, _ body: [UInt8]) async -> VerificationFailure? {
        do throws(VerificationFailure) {
            try await scheme.verify(SignedRequest(headers: [("Content-Type", "application/json")], body: body), now: Date())
            return nil
        } catch {
            return error
        }
    }

    static func envelope(_ jws: String) -> [UInt8] { Array(#"{"signedPayload":"\#(jws)"}"#.utf8) }

    /// A ONE_TIME_CHARGE for com.example in the sandbox whose transaction is given as JSON.
    static func notification(transaction: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: [
            "notificationType": "ONE_TIME_CHARGE", "notificationUUID": UUID().uuidString.lowercased(), "signedDate": 1_760_000_000_000,
            "data": ["bundleId": "com.example", "environment": "Sandbox", "signedTransactionInfo": transaction],
        ]))
    }

    @Test func applesTestNotificationInItsEnvelopeVerifies() async throws {
        let scheme = try Self.scheme(root: try AppleSignedDataVerifierTests.appleTestRoot())
        let jws = try AppleSignedDataVerifierTests.sample("TEST.signedPayload.jws.txt")
        #expect(await Self.failure(scheme, Self.envelope(jws)) == nil)
        // The same under a source for another app, another environment, or another root.
        #expect(await Self.failure(try Self.scheme(root: try AppleSignedDataVerifierTests.appleTestRoot(), bundle: "com.other"), Self.envelope(jws)) == .wrongRecipient)
        #expect(await Self.failure(try Self.scheme(root: try AppleSignedDataVerifierTests.appleTestRoot(), environment: .production), Self.envelope(jws)) == .wrongRecipient)
        #expect(await Self.failure(try Self.scheme(root: try AppleSigningIdentity.development().rootDER), Self.envelope(jws)) == .untrustedCertificate)
        let noChain = try AppleSignedDataVerifierTests.sample("test-missingX5CHeaderClaim.jws.txt")
        #expect(await Self.failure(scheme, Self.envelope(noChain)) == .untrustedCertificate)
    }

    @Test func whatIsNotAnEnvelopeOrHasNoTrustIsRefused() async throws {
        let scheme = try Self.scheme(root: try AppleSignedDataVerifierTests.appleTestRoot())
        for body in ["", "[]", #"{"signedPayload":""}"#, #"{"signedPayload":7}"#, #"{"payload":"a.b.c"}"#, "not json"] {
            #expect(await Self.failure(scheme, Array(body.utf8)) == .malformedBody, "\(body)")
        }
        let oversized = Self.envelope(String(repeating: "a", count: AppleSignatureScheme.maximumSignedPayloadBytes))
        #expect(await Self.failure(scheme, oversized) == .malformedBody)
        let jws = try AppleSignedDataVerifierTests.sample("TEST.signedPayload.jws.txt")
        #expect(await Self.failure(AppleSignatureScheme(verifier: nil), Self.envelope(jws)) == .noUsableSecret, "no trust configured: fail closed")
    }

    @Test func theSignerAndTheSchemeAgreeAndTheNestedTransactionIsVerifiedToo() async throws {
        let identity = try AppleSigningIdentity.development()
        let scheme = try Self.scheme(root: identity.rootDER)
        let transaction: [String: Any] = ["transactionId": "2000000001", "appAccountToken": "ord_1", "price": 19990, "currency": "USD", "signedDate": 1_760_000_000_000]
        let genuine = AppleSignatureScheme.sign(try Self.notification(transaction: transaction), identity: identity, bundleID: "com.example", environment: "Sandbox")
        #expect(await Self.failure(scheme, genuine) == nil)

        // The outer notification genuine, the transaction inside it signed by a chain the source
        // does not trust: the nested JWS is what names the order and the money, so it is refused.
        let stranger = try AppleSigningIdentity.development()
        var object = try #require(try JSONSerialization.jsonObject(with: Data(try Self.notification(transaction: [:]))) as? [String: Any])
        var data = try #require(object["data"] as? [String: Any])
        data["signedTransactionInfo"] = stranger.sign(Array(try JSONSerialization.data(withJSONObject: transaction.merging(["bundleId": "com.example", "environment": "Sandbox"]) { $1 })))
        object["data"] = data
        let smuggled = Self.envelope(identity.sign(Array(try JSONSerialization.data(withJSONObject: object))))
        #expect(await Self.failure(scheme, smuggled) == .untrustedCertificate)

        // A transaction of another app inside this app's notification.
        let otherApp = AppleSignatureScheme.sign(try Self.notification(transaction: transaction.merging(["bundleId": "com.other"]) { $1 }),
                                                 identity: identity, bundleID: "com.example", environment: "Sandbox")
        #expect(await Self.failure(scheme, otherApp) == .wrongRecipient)

        // One character of the outer signature changed.
        var tampered = String(decoding: genuine, as: UTF8.self)
        let lastDot = try #require(tampered.lastIndex(of: "."))
        let target = tampered.index(lastDot, offsetBy: 5)
        tampered.replaceSubrange(target...target, with: tampered[target] == "A" ? "B" : "A")
        #expect(await Self.failure(scheme, Array(tampered.utf8)) == .signatureMismatch)
    }

    /// jwt-kit validates the chain at the payload's signedDate before it checks the signature, so
    /// the date is the forger's: dates no calendar can hold are refused, never a trap.
    @Test func aForgedSigningDateOutsideAnyCalendarIsRefusedWithoutATrap() async throws {
        let identity = try AppleSigningIdentity.development(), stranger = try AppleSigningIdentity.development()
        let scheme = try Self.scheme(root: identity.rootDER)
        for date in ["-1e15", "-62135596800001", "1e300", "9223372036854775807", "253402300800000"] {
            let payload = #"{"notificationType":"TEST","notificationUUID":"u","signedDate":\#(date),"data":{"bundleId":"com.example","environment":"Sandbox"}}"#
            #expect(await Self.failure(scheme, Self.envelope(stranger.sign(Array(payload.utf8)))) != nil, "\(date)")
            #expect(await Self.failure(scheme, Self.envelope(identity.sign(Array(payload.utf8), key: P256.Signing.PrivateKey()))) != nil, "\(date)")
        }
        // A chain of four (or one) certificates is not Apple's.
        let long = AppleSigningIdentity(privateKey: identity.privateKey, chain: identity.chain + [identity.rootDER])
        #expect(await Self.failure(scheme, AppleSignatureScheme.sign(try Self.notification(transaction: [:]), identity: long, bundleID: "com.example", environment: "Sandbox")) == .untrustedCertificate)
        let short = AppleSigningIdentity(privateKey: identity.privateKey, chain: [identity.chain[0]])
        #expect(await Self.failure(scheme, AppleSignatureScheme.sign(try Self.notification(transaction: [:]), identity: short, bundleID: "com.example", environment: "Sandbox")) == .untrustedCertificate)
    }

    /// Apple's clock may run a little ahead of ours: a notification signed two minutes "from now"
    /// verifies; one signed an hour ahead does not (the fuzzer's find: jwt-kit refuses a chain
    /// check in its future, and no such date is Apple's).
    @Test func aSigningDateALittleAheadVerifiesAndOneFarAheadDoesNot() async throws {
        let identity = try AppleSigningIdentity.development()
        let scheme = try Self.scheme(root: identity.rootDER)
        func notification(signedAt date: Date) -> [UInt8] {
            let milliseconds = Int64(date.timeIntervalSince1970 * 1000)
            let payload = #"{"notificationType":"TEST","notificationUUID":"u","signedDate":\#(milliseconds),"data":{"bundleId":"com.example","environment":"Sandbox"}}"#
            return Self.envelope(identity.sign(Array(payload.utf8)))
        }
        #expect(await Self.failure(scheme, notification(signedAt: Date().addingTimeInterval(120))) == nil)
        #expect(await Self.failure(scheme, notification(signedAt: Date().addingTimeInterval(3600))) == .untrustedCertificate)
    }

    @Test func aSigningIdentityRoundTripsThroughPEMAndSignsTheSame() async throws {
        let identity = try AppleSigningIdentity.development()
        let read = try AppleSigningIdentity(pem: identity.pemRepresentation)
        #expect(read.chain == identity.chain)
        #expect(read.privateKey.rawRepresentation == identity.privateKey.rawRepresentation)
        let scheme = try Self.scheme(root: identity.rootDER)
        #expect(await Self.failure(scheme, AppleSignatureScheme.sign(try Self.notification(transaction: ["transactionId": "1", "signedDate": 1_760_000_000_000]), identity: read,
                                                                     bundleID: "com.example", environment: "Sandbox")) == nil)
        #expect(throws: AppleSigningIdentityError.noPrivateKey) { _ = try AppleSigningIdentity(pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n") }
        #expect(throws: AppleSigningIdentityError.noChain) { _ = try AppleSigningIdentity(pem: identity.privateKey.pemRepresentation) }
    }

    @Test func aRootFileIsReadAsDEROrPEM() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apple-roots-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let der = try AppleSignedDataVerifierTests.appleTestRoot()
        let derPath = directory.appendingPathComponent("root.der").path, pemPath = directory.appendingPathComponent("root.pem").path, junk = directory.appendingPathComponent("junk").path
        try Data(der).write(to: URL(fileURLWithPath: derPath))
        try "-----BEGIN CERTIFICATE-----\n\(Data(der).base64EncodedString(options: .lineLength64Characters))\n-----END CERTIFICATE-----\n".write(toFile: pemPath, atomically: true, encoding: .utf8)
        try "not a certificate".write(toFile: junk, atomically: true, encoding: .utf8)
        #expect(try AppleSignedDataVerifier.readRootCertificates(atPath: derPath).get() == [der])
        #expect(try AppleSignedDataVerifier.readRootCertificates(atPath: pemPath).get() == [der])
        #expect(throws: AppleSignedDataVerifier.RootFileProblem.self) { try AppleSignedDataVerifier.readRootCertificates(atPath: junk).get() }
        #expect(throws: AppleSignedDataVerifier.RootFileProblem.self) { try AppleSignedDataVerifier.readRootCertificates(atPath: directory.appendingPathComponent("absent").path).get() }
    }
}
