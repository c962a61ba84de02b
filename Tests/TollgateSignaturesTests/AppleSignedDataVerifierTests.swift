import Crypto
import Foundation
import Testing
@testable import TollgateSignatures

/// App Store signed data: Apple's own test chain and samples (apple/app-store-server-library-python,
/// copied to Tests/Fixtures/provider-payloads/apple), and chains made here for what the samples
/// do not show (an expired leaf, a missing marker extension, a signature by another key).
@Suite struct AppleSignedDataVerifierTests {
    static func fixture(_ name: String) throws -> Data {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/provider-payloads/apple/\(name)")
        return try Data(contentsOf: url)
    }

    static func sample(_ name: String) throws -> String {
        String(decoding: try fixture(name), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func appleTestRoot() throws -> [UInt8] { Array(try fixture("testCA.der")) }

    static func verifier(
        root: [UInt8]? = nil, bundle: String = "com.example", environment: AppleSignedDataVerifier.Environment = .sandbox
    ) throws -> AppleSignedDataVerifier {
        try AppleSignedDataVerifier(rootCertificates: [root ?? appleTestRoot()], bundleID: bundle, environment: environment)
    }

    /// The reason `operation` was refused; nil if it was not, or failed some other way.
    static func refusal(_ operation: () async throws -> Void) async -> AppleSignedDataFailure? {
        do { try await operation(); return nil } catch { return error as? AppleSignedDataFailure }
    }

    // MARK: Apple's samples

    @Test func applesTestNotificationVerifiesUnderItsTestRoot() async throws {
        let payload = try await Self.verifier().verifyNotification(try Self.sample("TEST.signedPayload.jws.txt"))
        #expect(payload.notificationType == "TEST")
        #expect(payload.notificationUUID == "9ad56bd2-0bc6-42e0-af24-fd996d87a1e6")
        #expect(payload.data?.bundleId == "com.example" && payload.data?.environment == "Sandbox")
        #expect(payload.signedAt == Date(timeIntervalSince1970: 1_681_314_324))  // milliseconds, read as such
    }

    @Test func applesTransactionAndRenewalSamplesVerify() async throws {
        let verifier = try Self.verifier()
        let transaction = try await verifier.verifyTransaction(try Self.sample("test-transactionInfo.jws.txt"))
        #expect(transaction.bundleId == "com.example")
        #expect(transaction.signedAt == Date(timeIntervalSince1970: 1_672_956_154))
        let renewal = try await verifier.verifyRenewal(try Self.sample("test-renewalInfo.jws.txt"))
        #expect(renewal.environment == "Sandbox")
    }

    @Test func everySampleIsRefusedUnderAnotherRoot() async throws {
        let stranger = try TestChain()
        let verifier = try Self.verifier(root: stranger.rootDER)
        let notification = try Self.sample("TEST.signedPayload.jws.txt")
        #expect(await Self.refusal { _ = try await verifier.verifyNotification(notification) } == .untrustedChain)
        let transaction = try Self.sample("test-transactionInfo.jws.txt")
        #expect(await Self.refusal { _ = try await verifier.verifyTransaction(transaction) } == .untrustedChain)
    }

    @Test func applesWrongBundleAndMissingChainSamplesAreRefused() async throws {
        let verifier = try Self.verifier()
        let wrongBundle = try Self.sample("test-wrongBundleId.jws.txt")
        #expect(await Self.refusal { _ = try await verifier.verifyNotification(wrongBundle) } == .wrongBundle)
        let noChain = try Self.sample("test-missingX5CHeaderClaim.jws.txt")
        #expect(await Self.refusal { _ = try await verifier.verifyNotification(noChain) } == .missingCertificateChain)
    }

    @Test func anotherBundleOrEnvironmentIsRefused() async throws {
        let notification = try Self.sample("TEST.signedPayload.jws.txt")
        let otherApp = try Self.verifier(bundle: "com.example.other")
        #expect(await Self.refusal { _ = try await otherApp.verifyNotification(notification) } == .wrongBundle)
        let production = try Self.verifier(environment: .production)
        #expect(await Self.refusal { _ = try await production.verifyNotification(notification) } == .wrongEnvironment)
    }

    @Test func aTamperedPayloadOrSignatureIsRefused() async throws {
        let verifier = try Self.verifier()
        let parts = try Self.sample("TEST.signedPayload.jws.txt").split(separator: ".").map(String.init)
        // The payload re-encoded with another bundle: still valid JSON, no longer what Apple signed.
        var payload = try #require(try JSONSerialization.jsonObject(with: Data(base64URL: parts[1])) as? [String: Any])
        payload["notificationType"] = "REFUND"
        let tampered = [parts[0], try JSONSerialization.data(withJSONObject: payload).base64URL, parts[2]].joined(separator: ".")
        #expect(await Self.refusal { _ = try await verifier.verifyNotification(tampered) } == .signatureMismatch)
        // One bit of the signature flipped.
        var signature = try Data(base64URL: parts[2])
        signature[5] ^= 0x01
        let forged = [parts[0], parts[1], signature.base64URL].joined(separator: ".")
        #expect(await Self.refusal { _ = try await verifier.verifyNotification(forged) } == .signatureMismatch)
        #expect(await Self.refusal { _ = try await verifier.verifyNotification("not.a.jws") } == .malformed)
        #expect(await Self.refusal { _ = try await verifier.verifyNotification("") } == .malformed)
    }

    // MARK: Chains made here

    @Test func aChainOfOurOwnMakingVerifiesWhenItHasAppleMarkers() async throws {
        let chain = try TestChain()
        let verifier = try Self.verifier(root: chain.rootDER)
        let payload = try await verifier.verifyNotification(try chain.sign(TestChain.notification()))
        #expect(payload.notificationType == "ONE_TIME_CHARGE")
    }

    @Test func aLeafExpiredAtSignedDateIsRefusedButOneValidThenIsNot() async throws {
        let signedDate = Date(timeIntervalSince1970: 1_760_000_000)
        // Valid for a day around signedDate, long expired now: still authentic (Apple retries for days).
        let validThen = try TestChain(leafValidity: signedDate.addingTimeInterval(-43_200)...signedDate.addingTimeInterval(43_200))
        let accepted = try await Self.verifier(root: validThen.rootDER).verifyNotification(try validThen.sign(TestChain.notification(signedDate: signedDate)))
        #expect(accepted.signedAt == signedDate)
        // Expired a day before signedDate.
        let expired = try TestChain(leafValidity: signedDate.addingTimeInterval(-172_800)...signedDate.addingTimeInterval(-86_400))
        let verifier = try Self.verifier(root: expired.rootDER)
        let token = try expired.sign(TestChain.notification(signedDate: signedDate))
        #expect(await Self.refusal { _ = try await verifier.verifyNotification(token) } == .untrustedChain)
    }

    @Test func aChainWithoutAppleMarkersIsRefused() async throws {
        for (leafMarker, intermediateMarker) in [(false, true), (true, false)] {
            let chain = try TestChain(leafMarker: leafMarker, intermediateMarker: intermediateMarker)
            let verifier = try Self.verifier(root: chain.rootDER)
            let token = try chain.sign(TestChain.notification())
            #expect(await Self.refusal { _ = try await verifier.verifyNotification(token) } == .untrustedChain,
                    "leaf marker \(leafMarker), intermediate marker \(intermediateMarker)")
        }
    }

    @Test func aTrustedChainOverAnotherKeysSignatureOrAnotherAlgorithmIsRefused() async throws {
        let chain = try TestChain()
        let verifier = try Self.verifier(root: chain.rootDER)
        let otherKey = try chain.sign(TestChain.notification(), with: P256.Signing.PrivateKey())
        #expect(await Self.refusal { _ = try await verifier.verifyNotification(otherKey) } == .signatureMismatch)
        let hs256 = try chain.sign(TestChain.notification(), algorithm: "HS256")
        #expect(await Self.refusal { _ = try await verifier.verifyNotification(hs256) } == .unsupportedAlgorithm)
        let none = try chain.sign(TestChain.notification(), algorithm: "none")
        #expect(await Self.refusal { _ = try await verifier.verifyNotification(none) } == .unsupportedAlgorithm)
    }
}

/// A development chain (``AppleSigningIdentity/development(leafMarker:intermediateMarker:leafValidity:)``)
/// with Apple's marker extensions unless told otherwise, and a signer of JWS payloads given as JSON.
struct TestChain {
    let identity: AppleSigningIdentity
    var rootDER: [UInt8] { identity.rootDER }

    init(
        leafMarker: Bool = true, intermediateMarker: Bool = true,
        leafValidity: ClosedRange<Date> = Date(timeIntervalSince1970: 1_700_000_000)...Date(timeIntervalSince1970: 2_000_000_000)
    ) throws {
        identity = try AppleSigningIdentity.development(leafMarker: leafMarker, intermediateMarker: intermediateMarker, leafValidity: leafValidity)
    }

    /// A notification payload as Apple shapes it, for com.example in the sandbox.
    static func notification(signedDate: Date = Date(timeIntervalSince1970: 1_760_000_000)) -> [String: Any] {
        [
            "notificationType": "ONE_TIME_CHARGE", "notificationUUID": UUID().uuidString.lowercased(),
            "signedDate": Int64(signedDate.timeIntervalSince1970 * 1000),
            "data": ["bundleId": "com.example", "environment": "Sandbox"],
        ]
    }

    /// A compact JWS of `payload`: ES256 by `key` (the leaf's unless given), the chain in `x5c`.
    func sign(_ payload: [String: Any], with key: P256.Signing.PrivateKey? = nil, algorithm: String = "ES256") throws -> String {
        identity.sign(Array(try JSONSerialization.data(withJSONObject: payload)), algorithm: algorithm, key: key)
    }
}

extension Data {
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init(base64URL text: String) throws {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        guard let data = Data(base64Encoded: standard) else { throw CocoaError(.coderInvalidValue) }
        self = data
    }
}
