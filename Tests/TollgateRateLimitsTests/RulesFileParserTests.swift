import Foundation
import Testing
import TollgateRateLimits

@Suite struct RulesFileParserTests {
    @Test func brokenFileGivesExactlyTheExpectedDiagnostics() {
        let yaml = """
            rules:
              - name: per-tenant
                match: { route: webhooks }
                rate: 100/fortnight
              - name: per-tenant
                match: { route: refunds }
                rate: 10/s
              - name: odd
                match: { route: checkout, colour: red }
                rate: 10/s
                by: planet
                mode: loud
                burst: 0
              - name: nothing
                match: { route: status }
            """
        let (_, diagnostics) = RulesFileParser.parse(yaml: yaml, file: "rules/acme.yaml")
        #expect(diagnostics.map(\.description) == [
            "rules/acme.yaml:4:11: bad rate '100/fortnight'; write N/s, N/min, N/h, N/d or N/<duration> like 100/5m",
            "rules/acme.yaml:5:11: duplicate rule name 'per-tenant' (first at line 2)",
            "rules/acme.yaml:6:21: unknown route 'refunds'; expected one of webhooks, checkout, status",
            "rules/acme.yaml:9:31: unknown key 'colour' in match",
            "rules/acme.yaml:11:9: unknown 'by' 'planet'; expected one of tenant, source, client_ip, player",
            "rules/acme.yaml:12:11: unknown mode 'loud'; expected enforce or shadow",
            "rules/acme.yaml:13:12: 'burst' must be a positive integer",
            "rules/acme.yaml:14:11: rule 'nothing' needs a 'rate' (or 'unlimited: true')",
        ])
    }

    @Test func unknownTopLevelAndRuleKeysAndYAMLSyntax() {
        let (_, unknown) = RulesFileParser.parse(yaml: "rulez: []\n", file: "f.yaml")
        #expect(unknown.map(\.description) == ["f.yaml:1:1: unknown key 'rulez'"])
        let (_, ruleKey) = RulesFileParser.parse(yaml: "rules:\n  - name: a\n    match: {route: status}\n    rate: 1/s\n    limit: 5\n", file: "f.yaml")
        #expect(ruleKey.map(\.description) == ["f.yaml:5:5: unknown key 'limit'"])
        let (_, syntax) = RulesFileParser.parse(yaml: "rules:\n  - name: [unclosed\n", file: "f.yaml")
        #expect(syntax.count == 1)
        #expect(syntax.first?.description.hasPrefix("f.yaml:3:") == true)
    }

    @Test func tenantRulesOverrideDefaultsByNameAndUnlimitedExempts() {
        let defaults = RulesFileParser.parse(yaml: """
            rules:
              - name: webhooks
                match: { route: webhooks }
                rate: 100/s
              - name: checkout-per-player
                match: { route: checkout, method: POST }
                rate: 5/min
                by: player
            """, file: "_defaults.yaml").rules
        let acme = RulesFileParser.parse(yaml: """
            rules:
              - name: webhooks
                match: { route: webhooks }
                rate: 1000/s
                burst: 2000
              - name: monitor
                match: { route: webhooks, source: synthetic }
                unlimited: true
            """, file: "acme.yaml").rules
        let set = RuleSet(defaults: defaults, tenants: ["acme": acme])
        let acmeWebhooks = set.matching(tenant: "acme", route: .webhooks, source: "stripe", method: "POST")
        #expect(acmeWebhooks.map(\.name) == ["webhooks"])
        #expect(acmeWebhooks.first?.rate == Rate(count: 1000, period: .seconds(1)))
        #expect(acmeWebhooks.first?.burst == 2000)
        #expect(set.matching(tenant: "other", route: .webhooks, source: "stripe", method: "POST").first?.burst == 100)
        #expect(set.matching(tenant: "acme", route: .webhooks, source: "synthetic", method: "POST").isEmpty)
        #expect(set.matching(tenant: "acme", route: .checkout, source: nil, method: "GET").isEmpty)
        #expect(set.matching(tenant: "acme", route: .checkout, source: nil, method: "POST").map(\.by) == [.player])
    }

    @Test func shippedRulesDirectoryIsValid() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("rules").path
        let set = try RulesFileParser.load(directory: directory).get()
        #expect(!set.defaults.isEmpty)
        #expect(set.tenants["demo"] != nil)
    }
}
