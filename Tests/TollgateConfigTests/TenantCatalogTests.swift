import Foundation
import Testing
import TollgateConfig
import TollgateCore

@Suite struct TenantCatalogTests {

    func directory(_ files: [String: String]) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-tenants-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return url.path
    }

    @Test func shippedDemoTenantHasOneSourcePerProvider() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/tenants").path
        let (catalog, warnings) = try TenantCatalog.load(directory: path, environment: [:])
        #expect(catalog.tenants == ["demo", "loadtest"])
        let providers = Set(Provider.allCases)
        #expect(Set(catalog.sources["demo"]!.values.map(\.provider)) == providers)
        #expect(warnings.count == 2 * (providers.count + 2), "each dev literal secret warns (sources, player token key, payments key), in both tenants")
        #expect(Set(catalog.sources["loadtest"]!.values.map(\.provider)) == providers)
        let checkout = try #require(catalog.checkout["demo"])
        #expect(checkout.playerTokenKeys.map(\.kid) == ["demo-dev-1"])
        #expect(checkout.payments.webhookSource == "stripe")
        #expect(checkout.origins.contains("https://hub.demo.localhost"))
        #expect(warnings.allSatisfy { !$0.description.contains("whsec_dev") })
    }

    @Test func envSecretsResolveAndSeveralAreKeptForRotation() throws {
        let dir = try directory(["acme.yaml": "tenant: acme\nsources:\n  pay:\n    provider: stripe\n    secrets: [env:NEW, env:OLD]\n    tolerance: 120s\n"])
        let (catalog, warnings) = try TenantCatalog.load(directory: dir, environment: ["NEW": "whsec_new", "OLD": "whsec_old"])
        let source = try #require(catalog.source(tenant: "acme", name: "pay"))
        #expect(source.secrets.map(\.exposedValue) == ["whsec_new", "whsec_old"])
        #expect(source.tolerance == .seconds(120))
        #expect(warnings.isEmpty)
    }

    @Test func everyProblemIsReportedWithFileAndLine() throws {
        let dir = try directory([
            "bad.yaml": """
                tenant: acme
                sources:
                  pay:
                    provider: paypal
                    secrets: [env:X]
                  other:
                    provider: stripe
                    secrets: [env:UNSET_FOR_TEST]
                    colour: blue
                """,
        ])
        let error = #expect(throws: ConfigurationError.self) {
            try TenantCatalog.load(directory: dir, environment: [:])
        }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.contains { $0.contains("bad.yaml:4:") && $0.contains("provider must be one of") })
        #expect(lines.contains { $0.contains("bad.yaml:8:") && $0.contains("UNSET_FOR_TEST is not set") })
        #expect(lines.contains { $0.contains("bad.yaml:9:") && $0.contains("unknown key 'colour'") })
    }

    @Test func checkoutSettingsAreCheckedWithFileAndLine() throws {
        let dir = try directory([
            "shop.yaml": """
                tenant: shop
                checkout:
                  origins: [https://hub.shop.example/, https://ok.example]
                  max_total_minor: -5
                  player_tokens:
                    - { kid: short, hs256: env:SHORT }
                    - { kid: none }
                  payments:
                    provider: braintree
                    base_url: ftp://x
                    secret_key: env:SK
                    attempts: 99
                """,
        ])
        let error = #expect(throws: ConfigurationError.self) {
            try TenantCatalog.load(directory: dir, environment: ["SHORT": "too-short", "SK": "sk_test"])
        }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.contains { $0.contains("shop.yaml:3:") && $0.contains("scheme://host[:port]") })
        #expect(lines.contains { $0.contains("shop.yaml:4:") && $0.contains("max_total_minor") })
        #expect(lines.contains { $0.contains("shop.yaml:6:") && $0.contains("at least 32 bytes") })
        #expect(lines.contains { $0.contains("shop.yaml:7:") && $0.contains("needs 'hs256' or 'es256'") })
        #expect(lines.contains { $0.contains("shop.yaml:9:") && $0.contains("provider must be one of stripe") })
        #expect(lines.contains { $0.contains("shop.yaml:10:") && $0.contains("base_url") })
        #expect(lines.contains { $0.contains("shop.yaml:12:") && $0.contains("attempts") })
        #expect(!lines.contains { $0.contains("too-short") || $0.contains("sk_test") }, "no secret in a diagnostic")
    }
}
