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
        #expect(catalog.tenants == ["demo", "fulfil", "loadtest"])
        let providers = Set(Provider.allCases)
        #expect(Set(catalog.sources["demo"]!.values.map(\.provider)) == providers)
        // Each dev literal secret warns (every source's but Apple's, Google Play's and PayPal's,
        // which have none; the player token key; the payments key; the game backend's), and
        // development: true once per tenant.
        func warningCount(in file: String) -> Int { warnings.filter { $0.description.contains("/\(file):") }.count }
        #expect(warningCount(in: "demo.yaml") == providers.count - 3 + 2 + 1 + 1)
        #expect(warningCount(in: "loadtest.yaml") == providers.count - 3 + 2 + 1)
        #expect(warningCount(in: "fulfil.yaml") == 5 + 1 + 1)
        #expect(warnings.count == warningCount(in: "demo.yaml") + warningCount(in: "loadtest.yaml") + warningCount(in: "fulfil.yaml"))
        #expect(warnings.filter { $0.message.contains("development: true") }.count == 3)
        #expect(catalog.gameBackends["demo"]?.playerVerification?.onTimeout == .allow, "the demo sells without the game simulator running")
        #expect(catalog.gameBackends["fulfil"]?.url == "http://127.0.0.1:9102/tollgate")
        #expect(catalog.checkout["demo"]?.payments.baseURL.hasPrefix("http://") == true, "the shipped tenants pay at the local simulator")
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
                    provider: worldpay
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

    /// A key that could never verify a callback stops the start, naming where it is: before this,
    /// a non-hex Adyen key loaded and then answered every callback 401.
    @Test func providerKeysAreCheckedForTheirFormatWithoutRepeatingThem() throws {
        let dir = try directory([
            "keys.yaml": """
                tenant: acme
                sources:
                  adyen:
                    provider: adyen
                    secrets: [env:ADYEN_OK, env:ADYEN_NOT_HEX]
                  standard:
                    provider: standard-webhooks
                    secrets: [whsec_%%%notbase64]
                  stripe:
                    provider: stripe
                    secrets: [env:STRIPE_API_KEY]
                """,
        ])
        let environment = ["ADYEN_OK": String(repeating: "AB", count: 32), "ADYEN_NOT_HEX": "this-is-not-hex-at-all", "STRIPE_API_KEY": "sk_test_123456"]
        let error = #expect(throws: ConfigurationError.self) { try TenantCatalog.load(directory: dir, environment: environment) }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.contains { $0.contains("keys.yaml:5:") && $0.contains("hexadecimal") })
        #expect(lines.contains { $0.contains("keys.yaml:8:") && $0.contains("base64") })
        #expect(lines.contains { $0.contains("keys.yaml:11:") && $0.contains("Stripe API key") })
        #expect(!lines.contains { $0.contains("this-is-not-hex") || $0.contains("sk_test_123456") || $0.contains("notbase64") }, "no secret in a diagnostic")
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

    @Test func theIdempotencyLeaseIsReadAndBounded() throws {
        func load(_ lease: String) throws -> TenantCatalog {
            let dir = try directory(["shop.yaml": shop(development: nil, baseURL: "https://api.stripe.com")
                .replacingOccurrences(of: "checkout:\n", with: "checkout:\n  idempotency_lease: \(lease)\n")])
            return try TenantCatalog.load(directory: dir, environment: shopEnvironment).catalog
        }
        #expect(try load("2s").checkout["shop"]?.idempotencyLease == .seconds(2))
        let error = #expect(throws: ConfigurationError.self) { try load("24h") }
        #expect(error?.issues.map(\.description).contains { $0.contains("shop.yaml:4:") && $0.contains("idempotency_lease") } == true)
    }

    func shop(development: String?, baseURL: String) -> String {
        """
        tenant: shop
        \(development.map { "development: \($0)" } ?? "# not a development tenant")
        checkout:
          player_tokens:
            - { kid: k1, hs256: env:KEY }
          payments:
            provider: stripe
            base_url: \(baseURL)
            secret_key: env:SK
        """
    }

    let shopEnvironment = ["KEY": String(repeating: "k", count: 32), "SK": "sk_test_shop"]

    @Test func aPlainHTTPPaymentsBaseURLIsRefusedNamingTheKeyUnlessTheTenantIsMarkedDevelopment() throws {
        let dir = try directory(["shop.yaml": shop(development: nil, baseURL: "http://127.0.0.1:12111")])
        let error = #expect(throws: ConfigurationError.self) {
            try TenantCatalog.load(directory: dir, environment: shopEnvironment)
        }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.contains { $0.contains("shop.yaml:8:") && $0.contains("base_url must be https") && $0.contains("development: true") }, "\(lines)")

        let explicitlyNot = try directory(["shop.yaml": shop(development: "false", baseURL: "http://127.0.0.1:12111")])
        #expect(throws: ConfigurationError.self) { try TenantCatalog.load(directory: explicitlyNot, environment: shopEnvironment) }
    }

    @Test func aDevelopmentTenantMayUsePlainHTTPAndIsWarnedAboutOnce() throws {
        let dir = try directory(["shop.yaml": shop(development: "true", baseURL: "http://127.0.0.1:12111")])
        let (catalog, warnings) = try TenantCatalog.load(directory: dir, environment: shopEnvironment)
        #expect(catalog.checkout["shop"]?.payments.baseURL == "http://127.0.0.1:12111")
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.first?.description.contains("shop.yaml:2:") == true)
        #expect(warnings.first?.message.contains("tenant 'shop' is marked development: true") == true)
    }

    @Test func httpsNeedsNoDevelopmentMarkAndDevelopmentMustBeABoolean() throws {
        let dir = try directory(["shop.yaml": shop(development: nil, baseURL: "https://api.stripe.com")])
        let (catalog, warnings) = try TenantCatalog.load(directory: dir, environment: shopEnvironment)
        #expect(catalog.checkout["shop"]?.payments.baseURL == "https://api.stripe.com")
        #expect(warnings.isEmpty)

        let bad = try directory(["shop.yaml": shop(development: "sometimes", baseURL: "https://api.stripe.com")])
        let error = #expect(throws: ConfigurationError.self) { try TenantCatalog.load(directory: bad, environment: shopEnvironment) }
        #expect(error?.issues.map(\.description).contains { $0.contains("shop.yaml:2:") && $0.contains("'development' must be true or false") } == true)
    }

    @Test func theBaseURLRuleIsOneFunction() {
        typealias Payments = CheckoutSettings.Payments
        #expect(Payments.baseURLProblem("https://api.stripe.com", development: false) == nil)
        #expect(Payments.baseURLProblem("HTTPS://api.stripe.com", development: false) == nil)
        #expect(Payments.baseURLProblem("http://127.0.0.1:12111", development: true) == nil)
        #expect(Payments.baseURLProblem("http://127.0.0.1:12111", development: false) != nil)
        #expect(Payments.baseURLProblem("ftp://x", development: true) != nil)
        #expect(Payments.baseURLProblem("https://", development: false) != nil)
        #expect(Payments.baseURLProblem("", development: true) != nil)
    }
}
