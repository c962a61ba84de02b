import Foundation
import Testing
import TollgateConfig
import TollgateCore
import TollgateSignatures

/// PayPal sources in tenant files: the webhook id, live or sandbox, the roots PayPal's certificate
/// must chain to, and a signing identity only where the tenant is marked development; every
/// problem with its file:line:col.
@Suite struct PayPalSourceConfigurationTests {
    /// A directory with `files`, a development identity (signing.pem, its root root.der) and
    /// another root (other-root.der).
    func directory(_ files: [String: String]) throws -> (path: String, identity: PayPalSigningIdentity) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-paypal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let identity = try PayPalSigningIdentity.development(sandbox: true)
        try Data(identity.rootDER).write(to: url.appendingPathComponent("root.der"))
        try identity.pemRepresentation.write(to: url.appendingPathComponent("signing.pem"), atomically: true, encoding: .utf8)
        try Data(try PayPalSigningIdentity.development(sandbox: true).rootDER).write(to: url.appendingPathComponent("other-root.der"))
        for (name, text) in files {
            try text.replacingOccurrences(of: "$DIR", with: url.path).write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return (url.path, identity)
    }

    @Test func aPayPalSourceTrustsItsRootsForItsWebhookAndSignsOnlyInDevelopment() async throws {
        let (dir, identity) = try directory(["shop.yaml": """
            tenant: shop
            development: true
            sources:
              paypal:
                provider: paypal
                webhook_id: 8PT597110X687430LKGECATA
                environment: sandbox
                root_certificates: [$DIR/root.der]
                signing_identity: file:$DIR/signing.pem
            """])
        let (catalog, warnings) = try TenantCatalog.load(directory: dir, environment: [:])
        let source = try #require(catalog.source(tenant: "shop", name: "paypal"))
        #expect(source.provider == .paypal && source.secrets.isEmpty)
        #expect(source.paypal?.verifier.webhookID == "8PT597110X687430LKGECATA" && source.paypal?.sandbox == true)
        #expect(source.paypal?.signingIdentity?.chain == identity.chain)
        #expect(warnings.count == 1, "development: true warns; a file: identity does not: \(warnings)")
        // What the source's signer sends, its scheme accepts (the identity is what it serves for
        // the sandbox certificate URL); what its forger sends, it refuses; a live URL is refused unfetched.
        let body = Array(#"{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{}}"#.utf8)
        let now = Int64(Date().timeIntervalSince1970)
        let signed = try #require(source.signer).sign(body: body, timestamp: now, id: "1")
        #expect(signed.headers.contains { $0.name == "PAYPAL-CERT-URL" && $0.value.hasPrefix("https://api.sandbox.paypal.com/v1/notifications/certs/CERT-") })
        try await source.signatureScheme.verify(SignedRequest(headers: signed.headers, body: body), now: Date())
        let forged = source.forger.sign(body: body, timestamp: now, id: "2")
        await #expect(throws: VerificationFailure.signatureMismatch) {
            try await source.signatureScheme.verify(SignedRequest(headers: forged.headers, body: forged.body), now: Date())
        }
        let live = WebhookSigner(paypal: identity, webhookID: "8PT597110X687430LKGECATA", sandbox: false).sign(body: body, timestamp: now, id: "3")
        await #expect(throws: VerificationFailure.untrustedCertificate) {
            try await source.signatureScheme.verify(SignedRequest(headers: live.headers, body: body), now: Date())
        }
    }

    @Test func everyProblemOfAPayPalSourceIsNamedWithItsLine() throws {
        let (dir, _) = try directory(["bad.yaml": """
            tenant: bad
            sources:
              nothing:
                provider: paypal
              secrets:
                provider: paypal
                secrets: [whsec_nothing_to_do_here]
                webhook_id: ABC
                environment: live
                root_certificates: [$DIR/root.der]
              sandbox:
                provider: paypal
                webhook_id: "has spaces"
                environment: sandbox
                root_certificates: [$DIR/absent.der, $DIR/bad.yaml]
              production:
                provider: paypal
                webhook_id: ABC
                environment: live
                root_certificates: [$DIR/root.der]
                signing_identity: file:$DIR/signing.pem
            """])
        let error = #expect(throws: ConfigurationError.self) { try TenantCatalog.load(directory: dir, environment: [:]) }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.count == 9, "\(lines.joined(separator: "\n"))")
        #expect(lines.contains { $0.contains("bad.yaml:4:") && $0.contains("webhook_id must be") })
        #expect(lines.contains { $0.contains("bad.yaml:4:") && $0.contains("environment must be live or sandbox") })
        #expect(lines.contains { $0.contains("bad.yaml:4:") && $0.contains("root_certificates must list") })
        #expect(lines.contains { $0.contains("bad.yaml:7:") && $0.contains("unknown key 'secrets'") && $0.contains("webhook_id") })
        #expect(lines.contains { $0.contains("bad.yaml:13:") && $0.contains("webhook_id must be") })
        #expect(lines.contains { $0.contains("bad.yaml:14:") && $0.contains("environment sandbox is for development tenants only") },
                "sandbox money is not real: never on a real tenant")
        #expect(lines.contains { $0.contains("bad.yaml:15:") && $0.contains("absent.der") && $0.contains("cannot read") })
        #expect(lines.contains { $0.contains("bad.yaml:15:") && $0.contains("not a DER or PEM certificate") })
        #expect(lines.contains { $0.contains("bad.yaml:21:") && $0.contains("development tenants only") })
        #expect(!lines.contains { $0.contains("whsec_nothing") }, "no secret in a diagnostic")
    }

    @Test func anIdentityThatTheRootsWouldRefuseStopsTheStart() throws {
        let (dir, _) = try directory(["dev.yaml": """
            tenant: dev
            development: true
            sources:
              paypal:
                provider: paypal
                webhook_id: ABC
                environment: sandbox
                root_certificates: [$DIR/other-root.der]
                signing_identity: file:$DIR/signing.pem
            """])
        let error = #expect(throws: ConfigurationError.self) { try TenantCatalog.load(directory: dir, environment: [:]) }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.count == 1 && lines.first?.contains("dev.yaml:9:") == true && lines.first?.contains("does not end in any of root_certificates") == true, "\(lines)")
    }
}
