import TollgateCatalog
import TollgateConfig
import TollgateCore
import TollgateRateLimits

/// The files operators edit, each through its real parser: `rules/*.yaml`, `catalog/*.yaml` and
/// `config/tenants/*.yaml`. Any text must end in a value or in diagnostics, never a trap; every
/// diagnostic points into the file (line and column from 1, or 0 where the parser has no position).
enum ConfigurationFileTargets {
    static let rulesFile = FuzzTarget("rules-file", "rules file text -> rules or file:line:col diagnostics") { bytes throws(FuzzInvariantViolation) in
        let text = String(decoding: bytes, as: UTF8.self)
        let parsed = RulesFileParser.parse(yaml: text, file: "rules/fuzz.yaml")
        try checkPositions(parsed.diagnostics, target: "rules-file")
        if parsed.diagnostics.isEmpty, parsed.rules.contains(where: { $0.name.isEmpty }) {
            throw FuzzInvariantViolation(target: "rules-file", message: "a file without diagnostics yields a rule without a name")
        }
    }

    static let catalogFile = FuzzTarget("catalog-file", "catalog file text -> product catalog or file:line:col diagnostics") { bytes throws(FuzzInvariantViolation) in
        let text = String(decoding: bytes, as: UTF8.self)
        let parsed = CatalogFileParser.parse(yaml: text, file: "catalog/fuzz.yaml", tenant: "fuzz", contentHash: "fuzz")
        try checkPositions(parsed.diagnostics, target: "catalog-file")
    }

    /// `env:` references resolve from this fixed environment; the seeds (config/tenants) name these.
    static let environment = [
        "DEMO_STRIPE_WHSEC": "whsec_fuzz", "DEMO_STRIPE_WHSEC_OLD": "whsec_fuzz_old", "DEMO_ADYEN_HMAC": String(repeating: "0F", count: 32),
        "DEMO_STRIPE_API_KEY": "sk_test_fuzz", "FUZZ": "fuzz-secret-value-of-thirty-two-bytes",
    ]

    static let tenantFile = FuzzTarget("tenant-file", "tenant file text -> sources and checkout settings, or file:line:col issues") { bytes throws(FuzzInvariantViolation) in
        let text = String(decoding: bytes, as: UTF8.self)
        let loaded: (catalog: TenantCatalog, warnings: [ConfigurationIssue])
        do throws(ConfigurationError) {
            loaded = try TenantCatalog.parse(yaml: text, file: "config/tenants/fuzz.yaml", environment: environment)
        } catch {
            if error.issues.isEmpty { throw FuzzInvariantViolation(target: "tenant-file", message: "refused without an issue") }
            return
        }
        // Every source loaded can verify something: a secret, or for Apple a trusted root and for
        // Google Play the push token's settings (and no secret).
        for tenant in loaded.catalog.tenants {
            for source in loaded.catalog.sources[tenant]?.values.map({ $0 }) ?? [] {
                let usable = switch source.provider {
                case .apple: source.apple != nil && source.google == nil && source.paypal == nil && source.secrets.isEmpty
                case .googlePlay: source.google != nil && source.apple == nil && source.paypal == nil && source.secrets.isEmpty
                case .paypal: source.paypal != nil && source.apple == nil && source.google == nil && source.secrets.isEmpty
                default: !source.secrets.isEmpty && source.apple == nil && source.google == nil && source.paypal == nil
                }
                if !usable { throw FuzzInvariantViolation(target: "tenant-file", message: "source '\(source.name)' loaded without what verifies its callbacks") }
            }
        }
    }

    static func checkPositions(_ diagnostics: [FileDiagnostic], target: String) throws(FuzzInvariantViolation) {
        for diagnostic in diagnostics where diagnostic.line < 0 || diagnostic.column < 0 || diagnostic.message.isEmpty {
            throw FuzzInvariantViolation(target: target, message: "diagnostic without a position or message: \(diagnostic)")
        }
    }
}
