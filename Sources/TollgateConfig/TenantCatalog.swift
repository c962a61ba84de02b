import Foundation
import TollgateCore
import Yams

/// One webhook source of a tenant: the URL segment, the provider, and its resolved secrets.
public struct WebhookSource: Sendable {
    public var tenant: String
    public var name: String
    public var provider: String
    /// Every secret in force; several during a rotation. Any may match.
    public var secrets: [Secret]
    /// Timestamp tolerance, for schemes that sign a timestamp; nil means the provider's default.
    public var tolerance: Duration?
    /// Checkout.com: a fixed `Authorization` value the provider is configured to send.
    public var authorization: Secret?

    public init(tenant: String, name: String, provider: String, secrets: [Secret], tolerance: Duration? = nil, authorization: Secret? = nil) {
        self.tenant = tenant
        self.name = name
        self.provider = provider
        self.secrets = secrets
        self.tolerance = tolerance
        self.authorization = authorization
    }
}

/// The tenants in `config/tenants/*.yaml` and their webhook sources.
///
/// ```yaml
/// tenant: demo
/// sources:
///   stripe:                       # POST /v1/webhooks/demo/stripe
///     provider: stripe            # stripe, standard-webhooks, adyen, paddle, xsolla, checkout
///     secrets: [env:DEMO_STRIPE_WHSEC, env:DEMO_STRIPE_WHSEC_OLD]
///     tolerance: 300s             # optional; providers that sign a timestamp
/// ```
public struct TenantCatalog: Sendable {
    public private(set) var sources: [String: [String: WebhookSource]] = [:]

    public init(sources: [WebhookSource] = []) {
        for source in sources { self.sources[source.tenant, default: [:]][source.name] = source }
    }

    public func source(tenant: String, name: String) -> WebhookSource? { sources[tenant]?[name] }
    public var tenants: [String] { sources.keys.sorted() }

    /// Loads every `*.yaml` in `directory`. Collects every problem (file:line:col) before failing.
    public static func load(directory: String, providers: Set<String>, environment: [String: String]) throws(ConfigurationError) -> (catalog: TenantCatalog, warnings: [ConfigurationIssue]) {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw ConfigurationError(issues: [ConfigurationIssue(.file(path: directory, line: 0, column: 0), "cannot read the tenants directory")])
        }
        var parser = TenantFileParser(providers: providers, environment: environment)
        for file in files.sorted() where file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
            parser.parse(path: (directory as NSString).appendingPathComponent(file))
        }
        guard parser.issues.isEmpty else { throw ConfigurationError(issues: parser.issues) }
        return (TenantCatalog(sources: parser.sources), parser.warnings)
    }
}

/// Reads tenant files node by node so that every problem carries its file, line and column.
struct TenantFileParser {
    let providers: Set<String>
    let environment: [String: String]
    var sources: [WebhookSource] = []
    var issues: [ConfigurationIssue] = []
    var warnings: [ConfigurationIssue] = []
    var seenTenants: [String: String] = [:]

    /// A URL path segment we accept as a tenant or source name.
    static func isName(_ text: String) -> Bool {
        guard let first = text.first, (1...63).contains(text.count), first.isASCII, first.isLetter || first.isNumber else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    init(providers: Set<String>, environment: [String: String]) {
        self.providers = providers
        self.environment = environment
    }

    func origin(_ node: Node?, _ path: String) -> ConfigurationOrigin {
        .file(path: path, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1)
    }

    mutating func issue(_ node: Node?, _ path: String, _ message: String) {
        issues.append(ConfigurationIssue(origin(node, path), message))
    }

    mutating func parse(path: String) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            issue(nil, path, "cannot read the file")
            return
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            issue(nil, path, "invalid YAML: \(error)")
            return
        }
        guard let mapping = root?.mapping else { issue(root, path, "expected a mapping with 'tenant' and 'sources'"); return }
        for key in mapping.keys where !["tenant", "sources"].contains(key.string ?? "") {
            issue(key, path, "unknown key '\(key.string ?? "?")'")
        }
        guard let tenantNode = mapping["tenant"], let tenant = tenantNode.string, Self.isName(tenant) else {
            issue(mapping["tenant"] ?? root, path, "'tenant' must be a lower-case name of letters, digits, '-' or '_'")
            return
        }
        if let other = seenTenants[tenant] { issue(tenantNode, path, "tenant '\(tenant)' is also defined in \(other)") }
        seenTenants[tenant] = path
        guard let sourcesNode = mapping["sources"], let sourceMap = sourcesNode.mapping, !sourceMap.isEmpty else {
            issue(mapping["sources"] ?? root, path, "'sources' must map source names to their settings")
            return
        }
        for (nameNode, settings) in sourceMap {
            guard let name = nameNode.string, Self.isName(name) else {
                issue(nameNode, path, "source names are lower-case letters, digits, '-' or '_'")
                continue
            }
            parseSource(tenant: tenant, name: name, node: settings, path: path)
        }
    }

    mutating func parseSource(tenant: String, name: String, node: Node, path: String) {
        guard let settings = node.mapping else { issue(node, path, "source '\(name)' must be a mapping"); return }
        for key in settings.keys where !["provider", "secrets", "tolerance", "authorization"].contains(key.string ?? "") {
            issue(key, path, "unknown key '\(key.string ?? "?")' in source '\(name)'")
        }
        guard let providerNode = settings["provider"], let provider = providerNode.string, providers.contains(provider) else {
            issue(settings["provider"] ?? node, path, "source '\(name)': provider must be one of \(providers.sorted().joined(separator: ", "))")
            return
        }
        guard let secretsNode = settings["secrets"], case .sequence(let list) = secretsNode, !list.isEmpty else {
            issue(settings["secrets"] ?? node, path, "source '\(name)': 'secrets' must be a non-empty list of env:, file: or literal secrets")
            return
        }
        var secrets: [Secret] = []
        for secretNode in list {
            if let secret = resolve(secretNode, path: path, what: "source '\(name)' secret") { secrets.append(secret) }
        }
        var tolerance: Duration?
        if let toleranceNode = settings["tolerance"] {
            tolerance = toleranceNode.string.flatMap(SettingParser.duration)
            if tolerance == nil || tolerance! > .seconds(3600) {
                issue(toleranceNode, path, "source '\(name)': tolerance must be a duration up to 1h, like 300s")
            }
        }
        let authorization = settings["authorization"].flatMap { resolve($0, path: path, what: "source '\(name)' authorization") }
        sources.append(WebhookSource(tenant: tenant, name: name, provider: provider, secrets: secrets, tolerance: tolerance, authorization: authorization))
    }

    mutating func resolve(_ node: Node, path: String, what: String) -> Secret? {
        guard let text = node.string, !text.isEmpty else { issue(node, path, "\(what) must be a string"); return nil }
        let reference = SecretReference(parsing: text)
        if reference.isLiteral { warnings.append(ConfigurationIssue(origin(node, path), "\(what) is a literal; use env: or file: outside development")) }
        do {
            return try reference.resolve(environment: environment)
        } catch {
            issue(node, path, "\(what): \(error)")
            return nil
        }
    }
}
