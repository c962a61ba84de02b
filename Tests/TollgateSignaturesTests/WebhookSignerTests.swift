import Foundation
import Testing
import TollgateCore
import TollgateSignatures

/// The signer must produce, byte for byte, what the providers' own SDKs produced for the fixtures,
/// so the simulator, `tollgate trigger` and the load generator sign as the providers do.
@Suite struct WebhookSignerTests {
    /// The valid single-secret vector of each provider (the SDK's output).
    static let vectors = SignatureFixtureTests.vectors.filter {
        $0.expect == "ok" && $0.secrets.count == 1 && ["valid", "valid v1", "valid (Adyen's known answer)"].contains($0.name)
    }

    @Test func everyProviderHasAVectorToReproduce() {
        #expect(Set(Self.vectors.map(\.provider)) == Set(SignatureFixtureTests.providers))
    }

    @Test(arguments: vectors)
    func reproducesTheSDKSignature(_ vector: WebhookVector) throws {
        let signer = WebhookSigner(provider: try #require(Provider(rawValue: vector.provider)), secret: Secret(vector.secrets[0]))
        let sent = Dictionary(vector.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        let timestamp = Int64(sent["webhook-timestamp"] ?? sent["stripe-signature"].flatMap(Self.stripeTimestamp)
            ?? sent["paddle-signature"].flatMap(Self.paddleTimestamp) ?? "0") ?? 0
        let signed = signer.sign(body: Array(vector.body.utf8), timestamp: timestamp, id: sent["webhook-id"] ?? "")
        let produced = Dictionary(signed.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        switch vector.provider {
        case "adyen":
            // The signature lives in each item; compare what the SDK put there with ours.
            #expect(Self.adyenSignatures(signed.body) == Self.adyenSignatures(Array(vector.body.utf8)))
            #expect(!Self.adyenSignatures(signed.body).isEmpty)
        default:
            let name = ["stripe": "stripe-signature", "standard-webhooks": "webhook-signature", "paddle": "paddle-signature",
                        "xsolla": "authorization", "checkout": "cko-signature"][vector.provider]!
            #expect(produced[name] == sent[name], "\(vector.provider) \(name)")
            #expect(signed.body == Array(vector.body.utf8))
        }
    }

    /// What the signer produces verifies with the scheme, and with no other secret.
    @Test(arguments: SignatureFixtureTests.providers)
    func signedCallbacksVerifyWithTheirSchemeOnly(provider: String) async throws {
        let secret = provider == "adyen" ? "00112233445566778899AABBCCDDEEFF" : provider == "standard-webhooks" ? "whsec_c2lnbmVyLXRlc3Qta2V5" : "signer-test-secret"
        let other = provider == "adyen" ? "FFEEDDCCBBAA99887766554433221100" : provider == "standard-webhooks" ? "whsec_b3RoZXIta2V5LWZvci10ZXN0" : "another-secret"
        let body = provider == "adyen"
            ? #"{"live":"false","notificationItems":[{"NotificationRequestItem":{"pspReference":"PSP1","merchantAccountCode":"M","merchantReference":"ord_1","amount":{"value":1999,"currency":"EUR"},"eventCode":"AUTHORISATION","success":"true"}}]}"#
            : #"{"id":"evt_1","type":"payment.succeeded"}"#
        let now = Date()
        let known = try #require(Provider(rawValue: provider))
        let signed = WebhookSigner(provider: known, secret: Secret(secret)).sign(
            body: Array(body.utf8), timestamp: Int64(now.timeIntervalSince1970), id: "msg_1")
        let request = SignedRequest(headers: signed.headers, body: signed.body)
        try await known.signatureScheme(secrets: [Secret(secret)]).verify(request, now: now)
        await #expect(throws: VerificationFailure.self) {
            try await known.signatureScheme(secrets: [Secret(other)]).verify(request, now: now)
        }
    }

    static func stripeTimestamp(_ header: String) -> String? {
        header.split(separator: ",").first { $0.hasPrefix("t=") }.map { String($0.dropFirst(2)) }
    }

    static func paddleTimestamp(_ header: String) -> String? {
        header.split(separator: ";").first { $0.hasPrefix("ts=") }.map { String($0.dropFirst(3)) }
    }

    static func adyenSignatures(_ body: [UInt8]) -> [String] {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        return (object?["notificationItems"] as? [[String: Any]] ?? []).compactMap {
            (($0["NotificationRequestItem"] as? [String: Any])?["additionalData"] as? [String: Any])?["hmacSignature"] as? String
        }
    }
}
