import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import TollgateCheckout
import TollgateConfig
import TollgateOrders
import TollgateProviderEvents
import TollgateSignatures
import TollgateCore

/// `tollgate trigger`: one correctly signed provider callback to a running edge (like `stripe trigger`).
struct Trigger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one signed callback of a tenant's webhook source to a running edge.",
        discussion: "EVENT is a normalized kind: \(PaymentEventKind.allCases.filter { $0 != .other }.map(\.rawValue).joined(separator: ", ")).\n"
            + "The callback is shaped and signed as the source's provider sends it, with the source's first secret (Apple: its development signing_identity)."
    )

    @OptionGroup var options: ConfigOptions
    @Option(help: "Tenant.") var tenant: String
    @Option(help: "Webhook source of the tenant (its provider decides shape and signature).") var source: String
    @Argument(help: "The event kind, like payment.succeeded.") var event: String
    @Option(help: "The order the event is about.") var order = "ord_trigger"
    @Option(help: "Amount in minor units.") var amountMinor: Int64 = 1999
    @Option(help: "ISO 4217 currency.") var currency = "USD"
    @Option(help: "The provider's payment id (default: derived from the order).") var paymentID: String?
    @Option(help: "The provider's event id (default: random; repeat one to test deduplication).") var eventID: String?
    @Option(help: "Edge base URL.") var target = "https://127.0.0.1:8443"
    @Option(help: "CA certificate (PEM) that signed the edge's certificate.") var caFile = "certs/dev/ca.pem"

    func run() async throws {
        let loaded = try Bootstrap.loadConfiguration(path: options.config)
        let (catalog, _) = try Bootstrap.loadTenants(loaded.configuration)
        guard let webhookSource = catalog.source(tenant: tenant, name: source) else {
            throw ValidationError("tenant '\(tenant)' has no webhook source '\(source)'")
        }
        guard let kind = PaymentEventKind(rawValue: event), ProviderCallback.kinds(for: webhookSource.provider).contains(kind) else {
            throw ValidationError("\(webhookSource.provider) sends none of '\(event)'; it sends \(ProviderCallback.kinds(for: webhookSource.provider).map(\.rawValue).joined(separator: ", "))")
        }
        guard let signer = webhookSource.signer else {
            let missing = switch webhookSource.provider {
            case .apple: "source '\(source)' has no signing_identity (development tenants: `make certs` makes certs/dev/apple/signing.pem, `tollgate apple-dev-identity` another)"
            case .paypal: "source '\(source)' has no signing_identity (development tenants: `make certs` makes certs/dev/paypal/signing.pem)"
            case .googlePlay: "source '\(source)' has no signing_key (development tenants: `make certs` makes certs/dev/google/signing.pem and the jwks.json that trusts it)"
            default: "source '\(source)' has no secret to sign with"
            }
            throw ValidationError(missing)
        }
        let random = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let id = eventID ?? (webhookSource.provider.eventIDsAreDigits ? String(UInt32.random(in: 10_000_000...4_000_000_000))
            // Apple's notificationUUID is a UUID.
            : webhookSource.provider == .apple ? UUID().uuidString.lowercased() : "evt_trg_\(random.prefix(20))")
        let callback = ProviderCallback(kind: kind, orderID: order, eventID: id, paymentID: paymentID ?? "pay_\(order)",
                                        amountMinor: amountMinor, currency: currency)
        guard let signed = callback.signed(by: signer) else { throw ValidationError("cannot build \(event) for \(webhookSource.provider)") }

        var tls = TLSConfiguration.makeClientConfiguration()
        if FileManager.default.fileExists(atPath: caFile) { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        defer { _ = client.shutdown() }
        var request = HTTPClientRequest(url: "\(target)/v1/webhooks/\(tenant)/\(source)")
        request.method = .POST
        for (name, value) in signed.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: signed.body))
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        print("\(webhookSource.provider) \(event) \(id) -> \(response.status.code)\(response.headers.first(name: "Tollgate-Duplicate") == "true" ? " (duplicate)" : "")")
        if body.readableBytes > 0 { print(String(buffer: body)) }
        if response.status.code >= 300 { throw ExitCode.failure }
    }
}

/// `tollgate token`: a development player session token, signed with the tenant's HS256 key.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint a player session token for a tenant's checkout (development: uses the tenant's HS256 key)."
    )

    @OptionGroup var options: ConfigOptions
    @Option(help: "Tenant (the token's audience).") var tenant: String
    @Option(help: "Player id (the token's subject).") var player: String
    @Option(help: "Lifetime, like 15m.") var ttl = "1h"
    @Option(help: "The player's country (ISO 3166-1 alpha-2), which regional catalog prices follow.") var country: String?

    func run() async throws {
        let loaded = try Bootstrap.loadConfiguration(path: options.config)
        let (catalog, _) = try Bootstrap.loadTenants(loaded.configuration)
        guard let settings = catalog.checkout[tenant] else { throw ValidationError("tenant '\(tenant)' has no checkout section") }
        guard let key = settings.playerTokenKeys.first(where: { $0.algorithm == .hs256 }) else {
            throw ValidationError("tenant '\(tenant)' has no hs256 player token key; ES256 tokens are minted by the Game Hub backend")
        }
        guard let lifetime = TollgateCore.SettingParser.duration(ttl) else { throw ValidationError("--ttl is a duration, like 15m") }
        let now = Date()
        print(try await PlayerTokenMinter.hs256(secret: key.material.exposedValue, kid: key.kid, tenant: tenant, player: player,
                                                expires: now.addingTimeInterval(Double(lifetime.components.seconds)),
                                                notBefore: now.addingTimeInterval(-5), country: country))
    }
}
