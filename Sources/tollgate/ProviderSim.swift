import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TollgateConfig
import TollgateCore
import TollgateProviderSim
import TollgateTelemetry

/// `tollgate provider-sim`: the Stripe-shaped provider on loopback (dev, tests, load tests).
struct ProviderSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provider-sim",
        abstract: "Serve a Stripe-shaped PaymentIntents API on loopback and deliver signed webhooks to the edge.",
        discussion: """
            Script what happens to the next payments with
              curl -X POST http://127.0.0.1:12111/_sim/behaviours -d '{"next":["decline","timeout"]}'
            (succeed, fail, silent, decline, error, timeout, delay=<duration>), send later events with
              curl -X POST http://127.0.0.1:12111/_sim/payment_intents/<pi_id>/events -d '{"kind":"refund.succeeded"}'
            and read counters at GET /_sim/stats.
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 12111
    @OptionGroup var options: ConfigOptions
    @Option(help: "Where callbacks go; {tenant} and {source} are replaced with the payment's tenant and its webhook source.")
    var webhookURL = "https://127.0.0.1:8443/v1/webhooks/{tenant}/{source}"
    @Option(help: "Signing secret for tenants the configuration does not name (whsec_...; env:NAME or file:PATH work).")
    var webhookSecret = "whsec_dev_demo_stripe_0123456789"
    @Option(help: "CA certificate (PEM) that signed the edge's certificate.") var caFile = "certs/dev/ca.pem"
    @Option(help: "Only accept this API key (default: any sk_test_ key).") var secretKey: String?
    @Option(help: "What to do with create requests when nothing is scripted.") var behaviour = "succeed"
    @Option(help: "Delay before a payment's outcome is delivered.") var settleDelay = "1s"
    @Option(help: "First retry delay of a failed delivery; doubles each attempt.") var retryBase = "1s"
    @Option(help: "Delivery attempts per event before giving up.") var maxAttempts = 8
    @Option(help: "Deliver each event this many times (providers sometimes deliver twice).") var copies = 1

    func run() async throws {
        guard let behaviour = ProviderSimulator.Behaviour(behaviour) else { throw ValidationError("unknown --behaviour \(behaviour)") }
        guard let settle = SettingParser.duration(settleDelay), let retry = SettingParser.duration(retryBase) else {
            throw ValidationError("--settle-delay and --retry-base are durations, like 500ms")
        }
        var configuration = ProviderSimulator.Configuration()
        configuration.host = host
        configuration.port = port
        configuration.webhookURL = webhookURL
        configuration.webhookSecret = try SecretReference(parsing: webhookSecret).resolve(environment: ProcessInfo.processInfo.environment).exposedValue
        configuration.trustRootsPath = FileManager.default.fileExists(atPath: caFile) ? caFile : nil
        // Each tenant's callbacks go to the webhook source its checkout names, signed with that
        // source's secret: what the tenant set up at the real provider.
        if FileManager.default.fileExists(atPath: options.config) {
            let (catalog, _) = try Bootstrap.loadTenants(try Bootstrap.loadConfiguration(path: options.config).configuration)
            for (tenant, settings) in catalog.checkout {
                guard let name = settings.payments.webhookSource, let source = catalog.source(tenant: tenant, name: name),
                      let secret = source.secrets.first else { continue }
                configuration.tenantEndpoints[tenant] = (name, secret.exposedValue)
            }
        }
        configuration.secretKey = secretKey
        configuration.defaultBehaviour = behaviour
        configuration.settleDelay = settle
        configuration.retryBaseDelay = retry
        configuration.maximumDeliveryAttempts = maxAttempts
        configuration.deliveryCopies = copies
        Telemetry.bootstrapLogging(level: .info)
        let logger = Logger(label: "tollgate.provider-sim")
        logger.info("provider simulator listening", metadata: ["address": "http://\(host):\(port)", "webhooks": "\(webhookURL)"])
        let group = ServiceGroup(configuration: .init(services: [ProviderSimulator(configuration: configuration, logger: logger)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
