import Foundation
import TollgateCore
import TollgateFulfilment
import TollgateSignatures
import Yams

/// One webhook source of a tenant: the URL segment, the provider, and its resolved secrets.
public struct WebhookSource: Sendable {
    public var tenant: String
    public var name: String
    public var provider: Provider
    /// The provider account this source receives for (default: its name). Sources sharing an
    /// account share deduplication: moving an endpoint, or a second Adyen webhook for the same
    /// merchant account, never applies an event twice.
    public var account: String
    /// Every secret in force; several during a rotation. Any may match.
    public var secrets: [Secret]
    /// Timestamp tolerance, for schemes that sign a timestamp; nil means the provider's default.
    public var tolerance: Duration?
    /// Checkout.com: a fixed `Authorization` value the provider is configured to send.
    public var authorization: Secret?
    /// Apple: what the callbacks must chain to and be signed for (Apple sources hold no secrets).
    public var apple: AppleSourceSettings?
    /// Google Play: the push subscription's token and the app (Google Play sources hold no secrets).
    public var google: GooglePlaySourceSettings?
    /// PayPal: the webhook id and the roots PayPal's certificate must chain to (no secrets).
    public var paypal: PayPalSourceSettings?

    public init(tenant: String, name: String, provider: Provider, account: String? = nil, secrets: [Secret], tolerance: Duration? = nil,
                authorization: Secret? = nil, apple: AppleSourceSettings? = nil, google: GooglePlaySourceSettings? = nil,
                paypal: PayPalSourceSettings? = nil) {
        self.tenant = tenant
        self.name = name
        self.provider = provider
        self.account = account ?? name
        self.secrets = secrets
        self.tolerance = tolerance
        self.authorization = authorization
        self.apple = apple
        self.google = google
        self.paypal = paypal
    }

    /// The scheme that verifies this source's callbacks.
    public var signatureScheme: any SignatureScheme {
        provider.signatureScheme(secrets: secrets, tolerance: tolerance, authorization: authorization, apple: apple?.verifier,
                                 google: google.map { ($0.verifier, Set($0.packageNames)) }, paypal: paypal?.verifier)
    }

    /// What signs this source's callbacks as its provider would (trigger, load): the first secret,
    /// or for Apple the development signing identity. Nil when the source has neither.
    public var signer: WebhookSigner? {
        if let apple {
            return apple.signingIdentity.map { WebhookSigner(apple: $0, bundleID: apple.bundleID, environment: apple.environment) }
        }
        if let google {
            return google.signingKey.map { WebhookSigner(google: $0, audience: google.verifier.audience, email: google.verifier.serviceAccountEmail, packageName: google.packageNames[0]) }
        }
        if let paypal {
            return paypal.signingIdentity.map { WebhookSigner(paypal: $0, webhookID: paypal.verifier.webhookID, sandbox: paypal.sandbox) }
        }
        return secrets.first.map { WebhookSigner(provider: provider, secret: $0, authorization: authorization) }
    }

    /// What a forger signs this source's callbacks with: a secret, or for Apple a chain, that the source does not trust.
    public var forger: WebhookSigner {
        if let apple { return WebhookSigner(apple: nil, bundleID: apple.bundleID, environment: apple.environment) }
        if let google { return WebhookSigner(google: nil, audience: google.verifier.audience, email: google.verifier.serviceAccountEmail, packageName: google.packageNames[0]) }
        if let paypal { return WebhookSigner(paypal: nil, webhookID: paypal.verifier.webhookID, sandbox: paypal.sandbox) }
        return WebhookSigner(provider: provider, secret: provider.forgerSecret, authorization: authorization)
    }
}

/// An Apple source's trust: the roots its chains must end in (Apple Root CA - G3 in production),
/// the app and the environment it accepts.
public struct AppleSourceSettings: Sendable {
    public var verifier: AppleSignedDataVerifier
    public var bundleID: String { verifier.bundleID }
    public var environment: AppleSignedDataVerifier.Environment { verifier.environment }
    /// Development tenants only: the key and chain `tollgate trigger` and the load generator sign with.
    public var signingIdentity: AppleSigningIdentity?

    public init(verifier: AppleSignedDataVerifier, signingIdentity: AppleSigningIdentity? = nil) {
        self.verifier = verifier
        self.signingIdentity = signingIdentity
    }
}

/// A Google Play source's trust: the push subscription's token (audience, service account, the
/// keys Google signs with) and the app whose notifications it takes.
public struct GooglePlaySourceSettings: Sendable {
    public var verifier: GooglePushTokenVerifier
    /// The apps whose notifications the source takes (never empty; the signer uses the first).
    public var packageNames: [String]
    /// Development tenants only: the key `tollgate trigger` and the load generator sign tokens with.
    public var signingKey: GooglePushSigningKey?

    public init(verifier: GooglePushTokenVerifier, packageNames: [String], signingKey: GooglePushSigningKey? = nil) {
        self.verifier = verifier
        self.packageNames = packageNames.isEmpty ? [""] : packageNames
        self.signingKey = signingKey
    }
}

/// A PayPal source's trust: its webhook id (what PayPal signs for), live or sandbox, and the roots
/// PayPal's message-verification certificate must chain to.
public struct PayPalSourceSettings: Sendable {
    public var verifier: PayPalSignatureVerifier
    public var sandbox: Bool
    /// Development tenants only: the identity trigger and load sign with, which the source also
    /// serves for PayPal's certificate URL instead of fetching it.
    public var signingIdentity: PayPalSigningIdentity?

    public init(verifier: PayPalSignatureVerifier, sandbox: Bool, signingIdentity: PayPalSigningIdentity? = nil) {
        self.verifier = verifier
        self.sandbox = sandbox
        self.signingIdentity = signingIdentity
    }
}

/// The tenants in `config/tenants/*.yaml` and their webhook sources.
///
/// ```yaml
/// tenant: demo
/// development: true               # optional, default false; allows a plain-http payments base_url, warns at start
/// sources:
///   stripe:                       # POST /v1/webhooks/demo/stripe
///     provider: stripe            # stripe, standard-webhooks, adyen, paddle, xsolla, checkout
///     secrets: [env:DEMO_STRIPE_WHSEC, env:DEMO_STRIPE_WHSEC_OLD]
///     tolerance: 300s             # optional; providers that sign a timestamp
///     account: acct_main          # optional; sources of one provider account share dedup
///   appstore:                     # Apple: certificate-signed, no secrets
///     provider: apple
///     bundle_id: com.example.game
///     environment: Production     # Production or Sandbox (also Xcode, LocalTesting)
///     root_certificates: [/etc/tollgate/AppleRootCA-G3.cer]   # DER or PEM files
///     signing_identity: file:certs/dev/apple/signing.pem      # development tenants only: trigger and load sign with it
///   play:                         # Google Play RTDN via Pub/Sub push: a Google-signed token, no secrets
///     provider: google-play
///     package_name: com.example.game
///     audience: https://edge.example.com/v1/webhooks/demo/play  # the push subscription's audience
///     service_account_email: play-push@example-project.iam.gserviceaccount.com
///     jwks_url: https://www.googleapis.com/oauth2/v3/certs     # or jwks: a JWKS file
///     signing_key: file:certs/dev/google/signing.pem           # development tenants only: trigger and load sign with it
///   paypal:                       # PayPal: certificate-signed, no secrets
///     provider: paypal
///     webhook_id: 8PT597110X687430LKGECATA                    # the webhook's id in the PayPal dashboard
///     environment: live                                        # live or sandbox (development tenants only)
///     root_certificates: [/etc/tollgate/DigiCertGlobalRootG2.pem]   # what PayPal's certificate chains to
///     signing_identity: file:certs/dev/paypal/signing.pem     # development tenants only: trigger and load sign with it
/// ```
public struct TenantCatalog: Sendable {
    public private(set) var sources: [String: [String: WebhookSource]] = [:]
    /// Tenants whose Game Hub posts checkouts, by tenant.
    public private(set) var checkout: [String: CheckoutSettings] = [:]
    /// Tenants whose game backend takes fulfilment messages, by tenant.
    public private(set) var gameBackends: [String: GameBackendSettings] = [:]

    public init(sources: [WebhookSource] = [], checkout: [CheckoutSettings] = [], gameBackends: [GameBackendSettings] = []) {
        for source in sources { self.sources[source.tenant, default: [:]][source.name] = source }
        for settings in checkout { self.checkout[settings.tenant] = settings }
        for settings in gameBackends { self.gameBackends[settings.tenant] = settings }
    }

    public func source(tenant: String, name: String) -> WebhookSource? { sources[tenant]?[name] }
    public var tenants: [String] { Set(sources.keys).union(checkout.keys).union(gameBackends.keys).sorted() }

    /// Loads every `*.yaml` in `directory`. Collects every problem (file:line:col) before failing.
    public static func load(directory: String, environment: [String: String]) throws(ConfigurationError) -> (catalog: TenantCatalog, warnings: [ConfigurationIssue]) {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw ConfigurationError(issues: [ConfigurationIssue(.file(path: directory, line: 0, column: 0), "cannot read the tenants directory")])
        }
        var parser = TenantFileParser(environment: environment)
        for file in files.sorted() where file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
            parser.parse(path: (directory as NSString).appendingPathComponent(file))
        }
        guard parser.issues.isEmpty else { throw ConfigurationError(issues: parser.issues) }
        return (TenantCatalog(sources: parser.sources, checkout: parser.checkout, gameBackends: parser.gameBackends), parser.warnings)
    }

    /// Loads one tenant file's text, named `file` in diagnostics: the loader without the directory,
    /// for the fuzzer (Fuzz/) and anything else that holds a file's text already.
    public static func parse(yaml text: String, file: String, environment: [String: String]) throws(ConfigurationError) -> (catalog: TenantCatalog, warnings: [ConfigurationIssue]) {
        var parser = TenantFileParser(environment: environment)
        parser.parse(text: text, path: file)
        guard parser.issues.isEmpty else { throw ConfigurationError(issues: parser.issues) }
        return (TenantCatalog(sources: parser.sources, checkout: parser.checkout, gameBackends: parser.gameBackends), parser.warnings)
    }
}

/// Reads tenant files node by node so that every problem carries its file, line and column.
struct TenantFileParser {
    let environment: [String: String]
    var sources: [WebhookSource] = []
    var checkout: [CheckoutSettings] = []
    var gameBackends: [GameBackendSettings] = []
    var issues: [ConfigurationIssue] = []
    var warnings: [ConfigurationIssue] = []
    var seenTenants: [String: String] = [:]

    /// A URL path segment we accept as a tenant or source name.
    static func isName(_ text: String) -> Bool {
        guard let first = text.first, (1...63).contains(text.count), first.isASCII, first.isLetter || first.isNumber else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    init(environment: [String: String]) {
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
        parse(text: text, path: path)
    }

    mutating func parse(text: String, path: String) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            // Not `\(error)`: Yams's description quotes the offending line, which may hold a literal secret.
            issues.append(ConfigurationSource.issue(for: error, path: path))
            return
        } catch {
            issue(nil, path, "invalid YAML")
            return
        }
        guard let mapping = root?.mapping else { issue(root, path, "expected a mapping with 'tenant' and 'sources'"); return }
        for key in mapping.keys where !["tenant", "development", "sources", "checkout", "game_backend"].contains(key.string ?? "") {
            issue(key, path, "unknown key '\(key.string ?? "?")'")
        }
        guard let tenantNode = mapping["tenant"], let tenant = tenantNode.string, Self.isName(tenant) else {
            issue(mapping["tenant"] ?? root, path, "'tenant' must be a lower-case name of letters, digits, '-' or '_'")
            return
        }
        if let other = seenTenants[tenant] { issue(tenantNode, path, "tenant '\(tenant)' is also defined in \(other)") }
        seenTenants[tenant] = path
        var development = false
        if let developmentNode = mapping["development"] {
            if let value = developmentNode.bool { development = value } else { issue(developmentNode, path, "'development' must be true or false") }
            // Once per tenant, beside the literal-secret warnings: a production file must never carry it.
            if development {
                warnings.append(ConfigurationIssue(origin(developmentNode, path),
                    "tenant '\(tenant)' is marked development: true (plain-http payments base_url allowed); never in production"))
            }
        }
        if let checkoutNode = mapping["checkout"] { parseCheckout(tenant: tenant, node: checkoutNode, path: path, development: development) }
        if let backendNode = mapping["game_backend"] { parseGameBackend(tenant: tenant, node: backendNode, path: path, development: development) }
        if mapping["sources"] == nil, mapping["checkout"] != nil || mapping["game_backend"] != nil { return }
        guard let sourcesNode = mapping["sources"], let sourceMap = sourcesNode.mapping, !sourceMap.isEmpty else {
            issue(mapping["sources"] ?? root, path, "'sources' must map source names to their settings")
            return
        }
        for (nameNode, settings) in sourceMap {
            guard let name = nameNode.string, Self.isName(name) else {
                issue(nameNode, path, "source names are lower-case letters, digits, '-' or '_'")
                continue
            }
            parseSource(tenant: tenant, name: name, node: settings, path: path, development: development)
        }
        // One account is one provider's: an account name shared across providers would merge
        // unrelated event ids into one dedup scope.
        var providerOfAccount: [String: Provider] = [:]
        for source in sources where source.tenant == tenant {
            if let other = providerOfAccount[source.account], other != source.provider {
                issue(sourceMap.first { $0.key.string == source.name }?.value.mapping?["account"] ?? sourcesNode, path,
                      "source '\(source.name)': account '\(source.account)' is used by a \(other.rawValue) source; an account belongs to one provider")
            }
            providerOfAccount[source.account] = source.provider
        }
    }

    mutating func parseSource(tenant: String, name: String, node: Node, path: String, development: Bool) {
        guard let settings = node.mapping else { issue(node, path, "source '\(name)' must be a mapping"); return }
        guard let provider = settings["provider"]?.string.flatMap(Provider.init(rawValue:)) else {
            issue(settings["provider"] ?? node, path, "source '\(name)': provider must be one of \(Provider.allCases.map(\.rawValue).sorted().joined(separator: ", "))")
            return
        }
        let known = switch provider {
        case .apple: ["provider", "account", "bundle_id", "environment", "root_certificates", "signing_identity"]
        case .googlePlay: ["provider", "account", "package_name", "audience", "service_account_email", "jwks", "jwks_url", "signing_key"]
        case .paypal: ["provider", "account", "webhook_id", "environment", "root_certificates", "signing_identity"]
        default: ["provider", "secrets", "tolerance", "authorization", "account"]
        }
        for key in settings.keys where !known.contains(key.string ?? "") {
            let hint = switch (provider, key.string) {
            case (.apple, "secrets"): " (Apple signs with certificates: configure root_certificates, bundle_id and environment)"
            case (.googlePlay, "secrets"): " (Pub/Sub signs a token: configure audience, service_account_email, package_name and jwks or jwks_url)"
            case (.paypal, "secrets"): " (PayPal signs with certificates: configure webhook_id, environment and root_certificates)"
            default: ""
            }
            issue(key, path, "unknown key '\(key.string ?? "?")' in source '\(name)'\(hint)")
        }
        let account = parseAccount(settings, name: name, path: path)
        if provider == .apple {
            if let apple = parseApple(settings, node: node, name: name, path: path, development: development) {
                sources.append(WebhookSource(tenant: tenant, name: name, provider: provider, account: account, secrets: [], apple: apple))
            }
            return
        }
        if provider == .googlePlay {
            if let google = parseGooglePlay(settings, node: node, name: name, path: path, development: development) {
                sources.append(WebhookSource(tenant: tenant, name: name, provider: provider, account: account, secrets: [], google: google))
            }
            return
        }
        if provider == .paypal {
            if let paypal = parsePayPal(settings, node: node, name: name, path: path, development: development) {
                sources.append(WebhookSource(tenant: tenant, name: name, provider: provider, account: account, secrets: [], paypal: paypal))
            }
            return
        }
        guard let secretsNode = settings["secrets"], case .sequence(let list) = secretsNode, !list.isEmpty else {
            issue(settings["secrets"] ?? node, path, "source '\(name)': 'secrets' must be a non-empty list of env:, file: or literal secrets")
            return
        }
        var secrets: [Secret] = []
        for secretNode in list {
            guard let secret = resolve(secretNode, path: path, what: "source '\(name)' secret") else { continue }
            if let problem = provider.secretProblem(secret) { issue(secretNode, path, "source '\(name)': \(problem)") }
            secrets.append(secret)
        }
        var tolerance: Duration?
        if let toleranceNode = settings["tolerance"] {
            tolerance = toleranceNode.string.flatMap(SettingParser.duration)
            if tolerance == nil || tolerance! > .seconds(3600) {
                issue(toleranceNode, path, "source '\(name)': tolerance must be a duration up to 1h, like 300s")
            }
        }
        let authorization = settings["authorization"].flatMap { resolve($0, path: path, what: "source '\(name)' authorization") }
        sources.append(WebhookSource(tenant: tenant, name: name, provider: provider, account: account, secrets: secrets, tolerance: tolerance, authorization: authorization))
    }

    mutating func parseAccount(_ settings: Node.Mapping, name: String, path: String) -> String? {
        guard let accountNode = settings["account"] else { return nil }
        let account = accountNode.string
        if account.map(Self.isName) != true { issue(accountNode, path, "source '\(name)': account must be a lower-case name of letters, digits, '-' or '_'") }
        return account
    }

    /// An Apple source: the roots (files, DER or PEM), the bundle id and environment it accepts,
    /// and for development tenants the identity that trigger and load sign with.
    mutating func parseApple(_ settings: Node.Mapping, node: Node, name: String, path: String, development: Bool) -> AppleSourceSettings? {
        let issuesBefore = issues.count
        let bundleID = settings["bundle_id"]?.string ?? ""
        if bundleID.isEmpty || bundleID.count > 255 || !bundleID.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) {
            issue(settings["bundle_id"] ?? node, path, "source '\(name)': bundle_id must be the app's bundle identifier, like com.example.game")
        }
        let environment = settings["environment"]?.string.flatMap(AppleSignedDataVerifier.Environment.init(rawValue:))
        if environment == nil {
            issue(settings["environment"] ?? node, path, "source '\(name)': environment must be one of \(AppleSignedDataVerifier.Environment.allCases.map(\.rawValue).joined(separator: ", "))")
        } else if environment != .production, !development {
            // Sandbox purchases cost nothing (TestFlight), yet Apple signs them under the same root:
            // a sandbox source on a real tenant would let a tester pay real orders for free.
            issue(settings["environment"], path, "source '\(name)': environment \(environment!.rawValue) is for development tenants only (development: true); a production tenant takes Production")
        }
        let roots = parseRootCertificates(settings, node: node, name: name, path: path,
                                          what: "the roots App Store chains end in (Apple Root CA - G3, from apple.com/certificateauthority)")
        let identity = parseSigningIdentity(settings, name: name, path: path, development: development, signer: "Apple signs production callbacks",
                                            roots: roots, parse: AppleSigningIdentity.init(pem:), root: \.rootDER)
        guard issues.count == issuesBefore, let environment else { return nil }
        guard let verifier = try? AppleSignedDataVerifier(rootCertificates: roots, bundleID: bundleID, environment: environment) else {
            issue(settings["root_certificates"] ?? node, path, "source '\(name)': the root certificates cannot be used to verify chains")
            return nil
        }
        return AppleSourceSettings(verifier: verifier, signingIdentity: identity)
    }

    /// A Google Play source: the push subscription's audience and service account, where Google's
    /// keys are read (a JWKS file, or URL), the app, and for development tenants the key that
    /// trigger and load sign with.
    mutating func parseGooglePlay(_ settings: Node.Mapping, node: Node, name: String, path: String, development: Bool) -> GooglePlaySourceSettings? {
        let issuesBefore = issues.count
        // One package, or a list: the apps of one developer account may publish to one topic.
        let packageNodes: [Node] = switch settings["package_name"] {
        case .sequence(let list)?: Array(list)
        case let single?: [single]
        case nil: []
        }
        let packageNames = packageNodes.compactMap(\.string)
        if packageNodes.isEmpty || packageNames.count != packageNodes.count || !packageNames.allSatisfy({ package in
            !package.isEmpty && package.count <= 255 && package.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_") }
        }) {
            issue(settings["package_name"] ?? node, path, "source '\(name)': package_name must be the app's package name, like com.example.game (or a list of them)")
        }
        let audience = settings["audience"]?.string ?? ""
        if audience.isEmpty || audience.count > 2048 {
            issue(settings["audience"] ?? node, path, "source '\(name)': audience must be the push subscription's audience (by default its endpoint URL)")
        }
        let email = settings["service_account_email"]?.string ?? ""
        if email.count > 320 || email.split(separator: "@", omittingEmptySubsequences: false).count != 2 || email.hasPrefix("@") || email.hasSuffix("@") {
            issue(settings["service_account_email"] ?? node, path, "source '\(name)': service_account_email must be the service account the push subscription authenticates as")
        }
        var fetch: GoogleSigningKeys.Fetch?
        var fileKids: Set<String>?
        switch (settings["jwks"], settings["jwks_url"]) {
        case (let fileNode?, nil):
            if let file = fileNode.string, !file.isEmpty, let bytes = FileManager.default.contents(atPath: file) {
                let kids = Set(GoogleSigningKeys.signingKeys(Array(bytes)).keys)
                if kids.isEmpty { issue(fileNode, path, "source '\(name)': jwks \(file) holds no RSA signing key of 2048 bits or more") }
                fileKids = kids
                // Read again (at most once a minute) when a token names a key it lacks: ops replace the file as Google rotates.
                fetch = { Array(FileManager.default.contents(atPath: file) ?? Data()) }
            } else {
                issue(fileNode, path, "source '\(name)': jwks must be a readable JWKS file (Google's keys, from https://www.googleapis.com/oauth2/v3/certs)")
            }
        case (nil, let urlNode?):
            if let text = urlNode.string, let url = URL(string: text), url.scheme == "https", url.host?.isEmpty == false, url.user == nil, url.password == nil {
                fetch = { try await RemoteDocument.fetch(text, limit: 256 * 1024) }
            } else {
                issue(urlNode, path, "source '\(name)': jwks_url must be an https URL, like https://www.googleapis.com/oauth2/v3/certs")
            }
        case (let fileNode?, _?):
            issue(fileNode, path, "source '\(name)': configure jwks (a file) or jwks_url, not both")
        case (nil, nil):
            issue(node, path, "source '\(name)': jwks_url (https://www.googleapis.com/oauth2/v3/certs) or a jwks file is required")
        }
        var signingKey: GooglePushSigningKey?
        if let (keyNode, pem) = developmentSigningMaterial(settings, "signing_key", name: name, path: path, development: development,
                                                             signer: "Google signs production pushes") {
            do {
                let key = try GooglePushSigningKey(pem: pem.exposedValue)
                if let fileKids, !fileKids.contains(key.kid) {
                    issue(keyNode, path, "source '\(name)': signing_key's kid \(key.kid) is not in the jwks file, so the edge would refuse what it signs")
                }
                signingKey = key
            } catch {
                issue(keyNode, path, "source '\(name)' signing_key: \(error)")
            }
        }
        guard issues.count == issuesBefore, let fetch else { return nil }
        let verifier = GooglePushTokenVerifier(audience: audience, serviceAccountEmail: email, keys: GoogleSigningKeys(fetch: fetch))
        return GooglePlaySourceSettings(verifier: verifier, packageNames: packageNames, signingKey: signingKey)
    }

    /// A PayPal source: its webhook id, live or sandbox, the roots PayPal's certificate chains to,
    /// and for development tenants the identity trigger and load sign with (served for PayPal's
    /// certificate URL in place of PayPal's, so no request leaves the machine).
    mutating func parsePayPal(_ settings: Node.Mapping, node: Node, name: String, path: String, development: Bool) -> PayPalSourceSettings? {
        let issuesBefore = issues.count
        let webhookID = settings["webhook_id"]?.string ?? ""
        if webhookID.isEmpty || webhookID.count > 64 || !webhookID.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
            issue(settings["webhook_id"] ?? node, path, "source '\(name)': webhook_id must be the webhook's id from the PayPal dashboard, like 8PT597110X687430LKGECATA")
        }
        var sandbox = false
        switch settings["environment"]?.string {
        case "live": sandbox = false
        case "sandbox":
            sandbox = true
            // Sandbox payments are play money signed under the same roots: never on a real tenant.
            if !development { issue(settings["environment"], path, "source '\(name)': environment sandbox is for development tenants only (development: true); a production tenant takes live") }
        default: issue(settings["environment"] ?? node, path, "source '\(name)': environment must be live or sandbox")
        }
        let roots = parseRootCertificates(settings, node: node, name: name, path: path,
                                          what: "the roots PayPal's certificate chains to (DigiCert's, as PayPal's SDKs name it)")
        let identity = parseSigningIdentity(settings, name: name, path: path, development: development, signer: "PayPal signs production webhooks",
                                            roots: roots, parse: PayPalSigningIdentity.init(pem:), root: \.rootDER)
        guard issues.count == issuesBefore else { return nil }
        // A development identity is what "PayPal" serves here; otherwise PayPal's host, over https.
        let fetch: PayPalCertificates.Fetch = if let served = identity.map({ Array($0.certificatesPEM.utf8) }) {
            { _ in served }
        } else {
            { url in try await RemoteDocument.fetch(url.absoluteString, limit: 64 * 1024) }
        }
        guard let certificates = try? PayPalCertificates(roots: roots, sandbox: sandbox, fetch: fetch) else {
            issue(settings["root_certificates"] ?? node, path, "source '\(name)': the root certificates cannot be used to verify chains")
            return nil
        }
        return PayPalSourceSettings(verifier: PayPalSignatureVerifier(webhookID: webhookID, certificates: certificates), sandbox: sandbox,
                                    signingIdentity: identity)
    }

    /// A certificate-signed source's `root_certificates`: files of DER or PEM certificates, each
    /// problem named with its line; `what` says which roots belong there.
    mutating func parseRootCertificates(_ settings: Node.Mapping, node: Node, name: String, path: String, what: String) -> [[UInt8]] {
        guard let rootsNode = settings["root_certificates"], case .sequence(let list) = rootsNode, !list.isEmpty else {
            issue(settings["root_certificates"] ?? node, path, "source '\(name)': root_certificates must list \(what)")
            return []
        }
        var roots: [[UInt8]] = []
        for item in list {
            guard let file = item.string, !file.isEmpty else { issue(item, path, "source '\(name)': a root certificate is a file path"); continue }
            switch AppleSignedDataVerifier.readRootCertificates(atPath: file) {
            case .success(let certificates): roots += certificates
            case .failure(let problem): issue(item, path, "source '\(name)': root certificate \(file): \(problem.message)")
            }
        }
        return roots
    }

    /// A development source's `signing_identity`: a key and the chain it signs under, as Apple or
    /// PayPal hold theirs (`parse` reads it, `root` is its chain's last certificate). The chain
    /// must end in one of `roots`, or the edge would refuse everything trigger and load sign.
    mutating func parseSigningIdentity<Identity>(_ settings: Node.Mapping, name: String, path: String, development: Bool, signer: String,
                                                 roots: [[UInt8]], parse: (String) throws -> Identity, root: (Identity) -> [UInt8]) -> Identity? {
        guard let (node, pem) = developmentSigningMaterial(settings, "signing_identity", name: name, path: path, development: development,
                                                           signer: signer) else { return nil }
        do {
            let identity = try parse(pem.exposedValue)
            if !roots.isEmpty, !roots.contains(root(identity)) {
                issue(node, path, "source '\(name)': signing_identity's chain does not end in any of root_certificates, so the edge would refuse what it signs")
            }
            return identity
        } catch {
            issue(node, path, "source '\(name)' signing_identity: \(error)")
            return nil
        }
    }

    /// A development-only setting of signing material (`key`, a secret reference): refused with
    /// file:line:col on a production tenant, where `signer` signs the callbacks; else resolved.
    mutating func developmentSigningMaterial(_ settings: Node.Mapping, _ key: String, name: String, path: String, development: Bool,
                                             signer: String) -> (node: Node, pem: Secret)? {
        guard let node = settings[key] else { return nil }
        guard development else {
            issue(node, path, "source '\(name)': \(key) is for development tenants only (development: true); \(signer)")
            return nil
        }
        return resolve(node, path: path, what: "source '\(name)' \(key)").map { (node, $0) }
    }

    mutating func parseCheckout(tenant: String, node: Node, path: String, development: Bool) {
        guard let settings = node.mapping else { issue(node, path, "'checkout' must be a mapping"); return }
        let known = ["origins", "max_total_minor", "idempotency_ttl", "idempotency_lease", "player_tokens", "payments"]
        for key in settings.keys where !known.contains(key.string ?? "") { issue(key, path, "unknown key '\(key.string ?? "?")' in checkout") }

        var origins: [String] = []
        if let originsNode = settings["origins"] {
            if case .sequence(let list) = originsNode {
                for item in list {
                    // An origin is scheme://host[:port], exactly as the browser sends it: no path, no trailing slash.
                    if let text = item.string, let url = URL(string: text), ["https", "http"].contains(url.scheme ?? ""), url.host != nil,
                       url.path.isEmpty, url.query == nil { origins.append(text) }
                    else { issue(item, path, "checkout origin must be scheme://host[:port], like https://hub.example.com") }
                }
            } else { issue(originsNode, path, "checkout 'origins' must be a list") }
        }
        var maximum = CheckoutSettings.Defaults.maximumTotalMinor
        if let node = settings["max_total_minor"] {
            if let value = node.int.map(Int64.init), value > 0 { maximum = value } else { issue(node, path, "max_total_minor must be a positive integer (minor units)") }
        }
        var ttl = CheckoutSettings.Defaults.idempotencyTTL
        if let node = settings["idempotency_ttl"] {
            if let value = node.string.flatMap(SettingParser.duration), value >= .seconds(60) { ttl = value }
            else { issue(node, path, "idempotency_ttl must be a duration of at least 60s, like 24h") }
        }
        var lease = CheckoutSettings.Defaults.idempotencyLease
        if let node = settings["idempotency_lease"] {
            if let value = node.string.flatMap(SettingParser.duration), value >= .milliseconds(300), value <= .seconds(60) { lease = value }
            else { issue(node, path, "idempotency_lease must be a duration from 300ms to 60s, like 5s") }
        }
        var keys: [CheckoutSettings.PlayerTokenKey] = []
        if case .sequence(let list)? = settings["player_tokens"], !list.isEmpty {
            for item in list {
                guard let entry = item.mapping, let kid = entry["kid"]?.string, !kid.isEmpty else {
                    issue(item, path, "each player token key needs a 'kid' and one of 'hs256' or 'es256'")
                    continue
                }
                for key in entry.keys where !["kid", "hs256", "es256"].contains(key.string ?? "") {
                    issue(key, path, "unknown key '\(key.string ?? "?")' in player token key '\(kid)'")
                }
                if let secretNode = entry["hs256"], let secret = resolve(secretNode, path: path, what: "player token key '\(kid)'") {
                    // RFC 7518 section 3.2: an HS256 key at least as long as the hash.
                    if secret.exposedValue.utf8.count < 32 { issue(secretNode, path, "player token key '\(kid)': an hs256 secret needs at least 32 bytes") }
                    keys.append(.init(kid: kid, algorithm: .hs256, material: secret))
                } else if let pemNode = entry["es256"], let pem = resolve(pemNode, path: path, what: "player token key '\(kid)'") {
                    if !pem.exposedValue.contains("BEGIN PUBLIC KEY") { issue(pemNode, path, "player token key '\(kid)': es256 must be a PEM public key (file:PATH)") }
                    keys.append(.init(kid: kid, algorithm: .es256, material: pem))
                } else if entry["hs256"] == nil && entry["es256"] == nil {
                    issue(item, path, "player token key '\(kid)' needs 'hs256' or 'es256'")
                }
            }
        } else {
            issue(settings["player_tokens"] ?? node, path, "checkout 'player_tokens' must list at least one key")
        }
        guard let paymentsNode = settings["payments"], let payments = paymentsNode.mapping else {
            issue(settings["payments"] ?? node, path, "checkout 'payments' must say which provider opens payments")
            return
        }
        let paymentKeys = ["provider", "base_url", "secret_key", "webhook_source", "connect_timeout", "timeout", "attempts"]
        for key in payments.keys where !paymentKeys.contains(key.string ?? "") { issue(key, path, "unknown key '\(key.string ?? "?")' in payments") }
        let provider = payments["provider"]?.string ?? ""
        if !CheckoutSettings.paymentProviders.contains(provider) {
            issue(payments["provider"] ?? paymentsNode, path, "payments provider must be one of \(CheckoutSettings.paymentProviders.sorted().joined(separator: ", "))")
        }
        let baseURL = payments["base_url"]?.string ?? ""
        if let problem = CheckoutSettings.Payments.baseURLProblem(baseURL, development: development) {
            issue(payments["base_url"] ?? paymentsNode, path, problem)
        }
        let secretKey = payments["secret_key"].flatMap { resolve($0, path: path, what: "payments secret_key") }
        if payments["secret_key"] == nil { issue(paymentsNode, path, "payments needs a 'secret_key'") }
        func duration(_ name: String, _ fallback: Duration) -> Duration {
            guard let node = payments[name] else { return fallback }
            guard let value = node.string.flatMap(SettingParser.duration), value > .zero, value <= .seconds(120) else {
                issue(node, path, "payments \(name) must be a duration up to 120s, like 2s")
                return fallback
            }
            return value
        }
        let connectTimeout = duration("connect_timeout", CheckoutSettings.Defaults.connectTimeout)
        let timeout = duration("timeout", CheckoutSettings.Defaults.timeout)
        var attempts = CheckoutSettings.Defaults.attempts
        if let node = payments["attempts"] {
            if let value = node.int, (1...10).contains(value) { attempts = value } else { issue(node, path, "payments attempts must be 1 to 10") }
        }
        guard let secretKey else { return }
        checkout.append(CheckoutSettings(
            tenant: tenant, origins: origins, maximumTotalMinor: maximum, idempotencyTTL: ttl, idempotencyLease: lease, playerTokenKeys: keys,
            payments: .init(provider: provider, baseURL: baseURL, secretKey: secretKey, webhookSource: payments["webhook_source"]?.string,
                            connectTimeout: connectTimeout, timeout: timeout, attempts: attempts)
        ))
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

