import Foundation
import Testing
import TollgateConfig
import TollgateCore
import TollgateSignatures

/// Google Play sources in tenant files: the push subscription's audience and service account, the
/// app, Google's keys from a JWKS file or an https URL, and a signing key only where the tenant
/// is marked development; every problem with its file:line:col.
@Suite struct GooglePlaySourceConfigurationTests {
    /// A directory with `files`, a signing key (signing.pem) and JWKS files: jwks.json publishes
    /// that key, other-jwks.json another, empty-jwks.json none.
    func directory(_ files: [String: String]) throws -> (path: String, key: GooglePushSigningKey) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-google-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let (key, pem) = try GooglePushSigningKey.generate()
        try pem.write(to: url.appendingPathComponent("signing.pem"), atomically: true, encoding: .utf8)
        try key.jwks.write(to: url.appendingPathComponent("jwks.json"), atomically: true, encoding: .utf8)
        let other = try GooglePushSigningKey.generate().key
        try other.jwks.write(to: url.appendingPathComponent("other-jwks.json"), atomically: true, encoding: .utf8)
        try #"{"keys":[{"kty":"EC","kid":"ec","crv":"P-256","x":"AA","y":"AA"}]}"#.write(to: url.appendingPathComponent("empty-jwks.json"), atomically: true, encoding: .utf8)
        for (name, text) in files {
            try text.replacingOccurrences(of: "$DIR", with: url.path).write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return (url.path, key)
    }

    @Test func aGooglePlaySourceTrustsItsKeysForItsSubscriptionAndAppAndSignsOnlyInDevelopment() async throws {
        let (dir, key) = try directory(["game.yaml": """
            tenant: game
            development: true
            sources:
              play:
                provider: google-play
                package_name: com.example.game
                audience: https://edge.example/v1/webhooks/game/play
                service_account_email: push@game.iam.gserviceaccount.com
                jwks: $DIR/jwks.json
                signing_key: file:$DIR/signing.pem
              play-live:
                provider: google-play
                package_name: [com.example.game, com.example.other]
                audience: https://edge.example/v1/webhooks/game/play-live
                service_account_email: push@game.iam.gserviceaccount.com
                jwks_url: https://www.googleapis.com/oauth2/v3/certs
            """])
        let (catalog, warnings) = try TenantCatalog.load(directory: dir, environment: [:])
        let source = try #require(catalog.source(tenant: "game", name: "play"))
        #expect(source.provider == .googlePlay && source.secrets.isEmpty)
        #expect(source.google?.packageNames == ["com.example.game"])
        #expect(source.google?.verifier.audience == "https://edge.example/v1/webhooks/game/play")
        #expect(source.google?.signingKey?.kid == key.kid)
        #expect(catalog.source(tenant: "game", name: "play-live")?.google?.signingKey == nil)
        #expect(catalog.source(tenant: "game", name: "play-live")?.google?.packageNames == ["com.example.game", "com.example.other"])
        #expect(warnings.count == 1, "development: true warns; a file: key does not: \(warnings)")
        // What the source's signer sends, its scheme accepts; what its forger sends, it refuses.
        let notification = Array(#"{"version":"1.0","testNotification":{"version":"1.0"}}"#.utf8)
        let now = Int64(Date().timeIntervalSince1970)
        let signed = try #require(source.signer).sign(body: notification, timestamp: now, id: "1")
        try await source.signatureScheme.verify(SignedRequest(headers: signed.headers, body: signed.body), now: Date())
        let forged = source.forger.sign(body: notification, timestamp: now, id: "2")
        await #expect(throws: VerificationFailure.signatureMismatch) {
            try await source.signatureScheme.verify(SignedRequest(headers: forged.headers, body: forged.body), now: Date())
        }
    }

    @Test func everyProblemOfAGooglePlaySourceIsNamedWithItsLine() throws {
        let (dir, _) = try directory(["bad.yaml": """
            tenant: bad
            sources:
              nothing:
                provider: google-play
              secrets:
                provider: google-play
                secrets: [whsec_nothing_to_do_here]
                package_name: com.example.game
                audience: a
                service_account_email: push@example.com
                jwks: $DIR/jwks.json
              both:
                provider: google-play
                package_name: com.example.game
                audience: a
                service_account_email: push@example.com
                jwks: $DIR/jwks.json
                jwks_url: https://www.googleapis.com/oauth2/v3/certs
              plain:
                provider: google-play
                package_name: com.example.game
                audience: a
                service_account_email: not-an-email
                jwks_url: http://www.googleapis.com/oauth2/v3/certs
              password:
                provider: google-play
                package_name: [com.example.game, "not a package"]
                audience: a
                service_account_email: push@example.com
                jwks_url: https://user:pass@www.googleapis.com/oauth2/v3/certs
              nokeys:
                provider: google-play
                package_name: com example
                audience: a
                service_account_email: push@example.com
                jwks: $DIR/empty-jwks.json
              production:
                provider: google-play
                package_name: com.example.game
                audience: a
                service_account_email: push@example.com
                jwks: $DIR/jwks.json
                signing_key: file:$DIR/signing.pem
            """])
        let error = #expect(throws: ConfigurationError.self) { try TenantCatalog.load(directory: dir, environment: [:]) }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.count == 13, "\(lines.joined(separator: "\n"))")
        #expect(lines.contains { $0.contains("bad.yaml:4:") && $0.contains("package_name must be") })
        #expect(lines.contains { $0.contains("bad.yaml:4:") && $0.contains("audience must be") })
        #expect(lines.contains { $0.contains("bad.yaml:4:") && $0.contains("service_account_email must be") })
        #expect(lines.contains { $0.contains("bad.yaml:4:") && $0.contains("jwks_url (https://www.googleapis.com/oauth2/v3/certs) or a jwks file is required") })
        #expect(lines.contains { $0.contains("bad.yaml:7:") && $0.contains("unknown key 'secrets'") && $0.contains("audience") })
        #expect(lines.contains { $0.contains("bad.yaml:17:") && $0.contains("not both") })
        #expect(lines.contains { $0.contains("bad.yaml:23:") && $0.contains("service_account_email must be") })
        #expect(lines.contains { $0.contains("bad.yaml:24:") && $0.contains("jwks_url must be an https URL") })
        #expect(lines.contains { $0.contains("bad.yaml:27:") && $0.contains("package_name must be") }, "one bad name in the list")
        #expect(lines.contains { $0.contains("bad.yaml:30:") && $0.contains("jwks_url must be an https URL") }, "no credentials in the URL")
        #expect(lines.contains { $0.contains("bad.yaml:33:") && $0.contains("package_name must be") })
        #expect(lines.contains { $0.contains("bad.yaml:36:") && $0.contains("holds no RSA signing key") })
        #expect(lines.contains { $0.contains("bad.yaml:43:") && $0.contains("development tenants only") })
        #expect(!lines.contains { $0.contains("whsec_nothing") }, "no secret in a diagnostic")
    }

    @Test func aSigningKeyTheJWKSDoesNotPublishStopsTheStart() throws {
        let (dir, key) = try directory(["dev.yaml": """
            tenant: dev
            development: true
            sources:
              play:
                provider: google-play
                package_name: com.example.game
                audience: a
                service_account_email: push@example.com
                jwks: $DIR/other-jwks.json
                signing_key: file:$DIR/signing.pem
            """])
        let error = #expect(throws: ConfigurationError.self) { try TenantCatalog.load(directory: dir, environment: [:]) }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.count == 1 && lines.first?.contains("dev.yaml:10:") == true && lines.first?.contains(key.kid) == true, "\(lines)")
    }
}
