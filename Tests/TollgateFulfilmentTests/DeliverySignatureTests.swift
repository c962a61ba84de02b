import Foundation
import Testing
import TollgateCore
import TollgateSignatures

/// One delivery signed by the official `standardwebhooks` package
/// (Tests/Fixtures/make-fulfilment-fixtures.sh writes them).
struct DeliveryVector: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let secrets: [String]
    let webhookID: String
    let timestamp: Int64
    let body: String
    /// The package's `v1,…` entry for each secret, in order.
    let signatures: [String]

    enum CodingKeys: String, CodingKey {
        case name, secrets, timestamp, body, signatures
        case webhookID = "webhook_id"
    }

    var testDescription: String { name }

    /// The headers the package's signer gives a receiver.
    var headers: [(name: String, value: String)] {
        [("webhook-id", webhookID), ("webhook-timestamp", "\(timestamp)"), ("webhook-signature", signatures.joined(separator: " "))]
    }

    var now: Date { Date(timeIntervalSince1970: TimeInterval(timestamp)) }

    static func load() -> [DeliveryVector] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/Fixtures/fulfilment/standard-webhooks-deliveries.json")
        guard let data = try? Data(contentsOf: url) else { return [] }
        return (try? JSONDecoder().decode([DeliveryVector].self, from: data)) ?? []
    }
}

/// Proves the edge signs fulfilment deliveries exactly as the official Standard Webhooks package
/// does (same three headers, one `v1` entry per rotated secret), and that each secret alone verifies.
@Suite struct DeliverySignatureTests {
    static let vectors = DeliveryVector.load()

    @Test func fixtureCoversRotationAndRevoke() {
        #expect(Self.vectors.count >= 5, "Tests/Fixtures/fulfilment/standard-webhooks-deliveries.json missing or short")
        #expect(Self.vectors.contains { $0.secrets.count == 1 })
        #expect(Self.vectors.contains { $0.secrets.count > 1 })
        #expect(Self.vectors.contains { $0.body.contains("\"order.refunded\"") })
        #expect(Self.vectors.contains { vector in vector.body.utf8.contains { $0 >= 0x80 } })
        #expect(Self.vectors.contains { $0.body.contains("\\/") && $0.body.contains("\\u") })
    }

    @Test(arguments: vectors)
    func signsAsThePackageDoes(_ vector: DeliveryVector) {
        #expect(vector.signatures.count == vector.secrets.count)
        let signed = StandardWebhooksSignatureScheme.sign(
            Array(vector.body.utf8), secrets: vector.secrets.map(Secret.init), timestamp: vector.timestamp, id: vector.webhookID)
        #expect(signed.map { $0.name } == vector.headers.map { $0.name })
        #expect(signed.map { $0.value } == vector.headers.map { $0.value })
    }

    @Test(arguments: vectors)
    func eachSecretAloneVerifies(_ vector: DeliveryVector) async throws {
        let body = Array(vector.body.utf8)
        for secret in vector.secrets {
            let scheme = StandardWebhooksSignatureScheme(secrets: [Secret(secret)], tolerance: .seconds(300))
            try await scheme.verify(SignedRequest(headers: vector.headers, body: body), now: vector.now)
            for index in [0, body.count / 2, body.count - 1] {
                var forged = body
                forged[index] ^= 0x01
                await #expect(throws: VerificationFailure.signatureMismatch, "byte \(index) changed") {
                    try await scheme.verify(SignedRequest(headers: vector.headers, body: forged), now: vector.now)
                }
            }
        }
    }
}
