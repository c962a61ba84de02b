import ArgumentParser
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import TollgateConfig
import TollgateCore
import TollgateGameBackendSim
import TollgateTelemetry

/// `tollgate game-backend-sim`: a game backend on loopback that receives the edge's fulfilment
/// deliveries (dev, tests, load tests).
struct GameBackendSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "game-backend-sim",
        abstract: "Receive the edge's signed fulfilment deliveries on loopback, as a game backend would, and record them.",
        discussion: """
            Deliveries go to POST /tollgate. Change the faults while it runs with
              curl -X POST http://127.0.0.1:9102/_sim/script -d '{"fail_percent":20,"status":503,"retry_after":2}'
            (fields: fail_percent, status, retry_after, slow_ms, gone, decline_players, unknown_players,
            banned_players; the body replaces the whole script), and read GET /_sim/stats,
            GET /_sim/orders/<order_id>, GET /_sim/deliveries; POST /_sim/reset forgets everything.
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port).") var port = 9102
    @Option(name: .customLong("secret"),
            help: "A secret deliveries may be signed with, whsec_<base64> (env:NAME or file:PATH work); repeat during a rotation.")
    var secrets: [String] = []
    @Option(help: "Share of deliveries (0-100) answered with --status before anything is applied.") var failPercent = 0
    @Option(help: "Status of an injected failure (400-599).") var status = 500
    @Option(help: "Retry-After seconds sent with an injected 429 or 503.") var retryAfter: Int?
    @Option(help: "Milliseconds every answer at POST /tollgate waits (after its decision).") var slowMs = 0
    @Flag(help: "Answer every delivery 410 Gone.") var gone = false
    @Option(name: .customLong("decline-player"), help: "A player whose grants are declined with 422 player_banned (repeatable).")
    var declinePlayers: [String] = []
    @Option(name: .customLong("unknown-player"), help: "A player player.verify answers 404 unknown (repeatable).")
    var unknownPlayers: [String] = []
    @Option(name: .customLong("banned-player"), help: "A player player.verify answers 403 banned (repeatable).")
    var bannedPlayers: [String] = []
    @Option(help: "Seed of the choice of injected failures, to repeat a run (default: random).") var seed: UInt64?

    var script: GameBackendSimulator.Script {
        GameBackendSimulator.Script(failPercent: failPercent, status: status, retryAfter: retryAfter, slowMilliseconds: slowMs, gone: gone,
                                    declinePlayers: declinePlayers, unknownPlayers: unknownPlayers, bannedPlayers: bannedPlayers)
    }

    func validate() throws {
        guard !secrets.isEmpty else {
            throw ValidationError("give at least one --secret whsec_<base64>: the secret the edge signs deliveries to this backend with")
        }
        let problems = script.validationProblems()
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var resolved: [Secret] = []
        for (index, reference) in secrets.enumerated() {
            let secret = try SecretReference(parsing: reference).resolve(environment: environment)
            // Checked here, since a secret the scheme cannot use would answer every delivery 401.
            guard secret.exposedValue.hasPrefix("whsec_"), let key = Base64.decode(secret.exposedValue.dropFirst(6)), !key.isEmpty else {
                throw ValidationError("--secret number \(index + 1) is not whsec_ followed by base64")
            }
            resolved.append(secret)
        }
        Telemetry.bootstrapLogging(level: .info)
        let logger = Logger(label: "tollgate.game-backend-sim")
        let simulator = GameBackendSimulator(secrets: resolved, script: script, seed: seed, logger: logger)
        let application = simulator.application(host: host, port: port) { [host] channel in
            let address = "http://\(host):\(channel.localAddress?.port ?? 0)/tollgate"
            logger.info("game backend simulator listening", metadata: ["address": "\(address)"])
        }
        let group = ServiceGroup(configuration: .init(services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
