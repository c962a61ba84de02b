import Foundation
import Testing
import TollgateConfig
import TollgateCore
import TollgateSignatures

/// Apple sources in tenant files: certificate trust instead of secrets, every problem with its
/// file:line:col, and a signing identity only where the tenant is marked development.
@Suite struct AppleSourceConfigurationTests {
    /// A directory with `files` and a development chain (root.der, signing.pem) beside them.
    func directory(_ files: [String: String]) throws -> (path: String, identity: AppleSigningIdentity) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-apple-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let identity = try AppleSigningIdentity.development()
        try Data(identity.rootDER).write(to: url.appendingPathComponent("root.der"))
        try identity.pemRepresentation.write(to: url.appendingPathComponent("signing.pem"), atomically: true, encoding: .utf8)
        try Data(try AppleSigningIdentity.development().rootDER).write(to: url.appendingPathComponent("other-root.der"))
        for (name, text) in files {
            try text.replacingOccurrences(of: "$DIR", with: url.path).write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return (url.path, identity)
    }

    @Test func anAppleSourceTrustsItsRootsForItsAppAndSignsOnlyInDevelopment() async throws {
        let (dir, identity) = try directory(["game.yaml": """
            tenant: game
            development: true
            sources:
              appstore:
                provider: apple
                bundle_id: com.example.game
                environment: Sandbox
                root_certificates: [$DIR/root.der]
                signing_identity: file:$DIR/signing.pem
            """])
        let (catalog, warnings) = try TenantCatalog.load(directory: dir, environment: [:])
        let source = try #require(catalog.source(tenant: "game", name: "appstore"))
        #expect(source.provider == .apple && source.secrets.isEmpty)
        #expect(source.apple?.bundleID == "com.example.game" && source.apple?.environment == .sandbox)
        #expect(source.apple?.signingIdentity?.chain == identity.chain)
        #expect(warnings.count == 1, "development: true warns; a file: identity does not: \(warnings)")
        // What the source's signer sends, its scheme accepts; what its forger sends, it refuses.
        let callback = Array(#"{"notificationType":"TEST","notificationUUID":"0b7c6a0e-1f55-4d8e-9a43-3e0a4f1f2b11","signedDate":1760000000000,"data":{}}"#.utf8)
        let signed = try #require(source.signer).sign(body: callback, timestamp: 0, id: "")
        try await source.signatureScheme.verify(SignedRequest(headers: signed.headers, body: signed.body), now: Date())
        let forged = source.forger.sign(body: callback, timestamp: 0, id: "")
        await #expect(throws: VerificationFailure.untrustedCertificate) {
            try await source.signatureScheme.verify(SignedRequest(headers: forged.headers, body: forged.body), now: Date())
        }
    }

    @Test func everyProblemOfAnAppleSourceIsNamedWithItsLine() throws {
        let (dir, _) = try directory(["bad.yaml": """
            tenant: bad
            sources:
              noapp:
                provider: apple
                environment: Staging
                root_certificates: [$DIR/absent.der, $DIR/bad.yaml]
              secrets:
                provider: apple
                secrets: [whsec_nothing_to_do_here]
                bundle_id: com.example.game
                environment: Production
                root_certificates: [$DIR/root.der]
              production:
                provider: apple
                bundle_id: com.example.game
                environment: Production
                root_certificates: [$DIR/root.der]
                signing_identity: file:$DIR/signing.pem
              noroots:
                provider: apple
                bundle_id: com.example.game
                environment: Production
              sandbox:
                provider: apple
                bundle_id: com.example.game
                environment: Sandbox
                root_certificates: [$DIR/root.der]
            """])
        let error = #expect(throws: ConfigurationError.self) { try TenantCatalog.load(directory: dir, environment: [:]) }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.count == 8, "\(lines.joined(separator: "\n"))")
        #expect(lines.contains { $0.contains("bad.yaml:4:") && $0.contains("bundle_id") })
        #expect(lines.contains { $0.contains("bad.yaml:5:") && $0.contains("environment must be one of Production, Sandbox") })
        #expect(lines.contains { $0.contains("bad.yaml:6:") && $0.contains("absent.der") && $0.contains("cannot read") })
        #expect(lines.contains { $0.contains("bad.yaml:6:") && $0.contains("not a DER or PEM certificate") })
        #expect(lines.contains { $0.contains("bad.yaml:9:") && $0.contains("unknown key 'secrets'") && $0.contains("root_certificates") })
        #expect(lines.contains { $0.contains("bad.yaml:18:") && $0.contains("development tenants only") })
        #expect(lines.contains { $0.contains("bad.yaml:20:") && $0.contains("root_certificates must list") })
        #expect(lines.contains { $0.contains("bad.yaml:26:") && $0.contains("environment Sandbox is for development tenants only") },
                "sandbox purchases are free: never on a real tenant")
        #expect(!lines.contains { $0.contains("whsec_nothing") }, "no secret in a diagnostic")
    }

    @Test func anIdentityThatTheRootsWouldRefuseStopsTheStart() throws {
        let (dir, _) = try directory(["dev.yaml": """
            tenant: dev
            development: true
            sources:
              appstore:
                provider: apple
                bundle_id: com.example.game
                environment: Sandbox
                root_certificates: [$DIR/other-root.der]
                signing_identity: file:$DIR/signing.pem
            """])
        let error = #expect(throws: ConfigurationError.self) { try TenantCatalog.load(directory: dir, environment: [:]) }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.count == 1 && lines.first?.contains("dev.yaml:9:") == true && lines.first?.contains("does not end in any of root_certificates") == true, "\(lines)")
    }
}
