import Foundation
import TollgateCore
import Yams

/// What a load test does: where, how hard, with which mix of requests, and what counts as a pass.
/// Read from `loadtests/scenarios/*.yaml`; command-line flags override single fields.
public struct Scenario: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable {
        /// Requests are sent at planned times whatever the server does (wrk2); latency counts from
        /// the planned time, so a stalled server cannot hide its stall.
        case open
        /// N virtual clients, each sending its next request when the previous one is answered.
        case closed
    }

    public enum HTTPVersion: String, Sendable, Equatable { case h1, h2 }

    /// One step of an open-loop arrival-rate plan: ramp linearly to `rate` over `duration`.
    public struct Stage: Sendable, Equatable {
        public var rate: Double
        public var duration: Duration
    }

    public struct Weighted: Sendable, Equatable {
        public var kind: RequestKind
        public var weight: Int

        public init(kind: RequestKind, weight: Int) {
            self.kind = kind
            self.weight = weight
        }
    }

    public var name: String
    public var description: String
    public var target: String
    public var tenant: String
    /// Where the tenants' secrets are (the generator signs as the providers do).
    public var tenantsDirectory: String
    public var http: HTTPVersion
    public var mode: Mode
    public var duration: Duration
    /// Open loop: the arrival rate (requests/s), after the ramp stages if any.
    public var rate: Double
    public var stages: [Stage]
    /// Closed loop: concurrent virtual clients.
    public var clients: Int
    /// HTTP/1.1 connections (HTTP/2 multiplexes on few).
    public var connections: Int
    /// Orders seeded in Postgres before the run, for webhooks to move.
    public var seedOrders: Int
    /// Webhook sources to sign for (default: every source of the tenant).
    public var sources: [String]
    public var mix: [Weighted]
    /// A duplicate resends an event sent at least this long ago (when one is that old).
    public var duplicateDelay: Duration
    /// Checkout: distinct players (spreads per-player limits), and a retry's delay after its original.
    public var players: Int
    /// Checkout: the currency orders are placed in, and the player's country if any (a catalog's
    /// `country_prices` win for it). The SKUs bought are the tenant catalog's active items priced in it.
    public var currency: String
    public var country: String?
    /// Where the product catalogs are (`<tenant>.yaml`); nil: the edge configuration's `catalog.dir`.
    public var catalogDirectory: String?
    /// The game-backend simulator the tenant's deliveries go to (base URL): with it, `--verify`
    /// checks fulfilment (every paid order's grant acknowledged once, revokes after grants) and
    /// reports commit-to-delivery latency.
    public var gameSimulator: String?
    public var thresholds: [Threshold]
    /// Requests in flight at most (open loop): beyond it, sends wait, and the wait shows in latency.
    public var maxInFlight: Int
    public var requestTimeout: Duration
    /// Open loop: draft and sign every request before the clock starts, as the comparison kit's
    /// wrk sends pre-signed requests. On one machine the generator's RSA and ECDSA signing
    /// otherwise takes CPU from the edge it measures (about 0.45 core at 200/s with the
    /// certificate-signed providers). Requests are signed for their planned send time.
    /// Webhook kinds only (checkout requests depend on earlier answers).
    public var presign: Bool

    public init(name: String) {
        self.name = name
        description = ""
        target = "https://127.0.0.1:8443"
        tenant = "demo"
        tenantsDirectory = "config/tenants"
        http = .h2
        mode = .open
        duration = .seconds(10)
        rate = 100
        stages = []
        clients = 16
        connections = 16
        seedOrders = 100
        sources = []
        mix = [Weighted(kind: .webhook, weight: 1)]
        duplicateDelay = .milliseconds(500)
        players = 200
        currency = "USD"
        country = nil
        catalogDirectory = nil
        gameSimulator = nil
        thresholds = []
        maxInFlight = 4096
        requestTimeout = .seconds(10)
        presign = false
    }

    /// Planned arrival rate at `elapsed` into the run (open loop).
    public func plannedRate(at elapsed: Duration) -> Double {
        var start = Duration.zero
        var from = stages.isEmpty ? rate : 0
        for stage in stages {
            if elapsed < start + stage.duration {
                let fraction = Double((elapsed - start).nanoseconds) / Double(max(1, stage.duration.nanoseconds))
                return from + (stage.rate - from) * fraction
            }
            start += stage.duration
            from = stage.rate
        }
        return stages.isEmpty ? rate : from
    }

    /// Requests an open loop plans over the whole run: the ramps' areas, then the steady part.
    public var plannedCount: Double {
        var total = 0.0
        var from = stages.isEmpty ? rate : 0
        var elapsed = Duration.zero
        for stage in stages {
            total += (from + stage.rate) / 2 * Double(stage.duration.nanoseconds) / 1e9
            from = stage.rate
            elapsed += stage.duration
        }
        if duration > elapsed { total += from * Double((duration - elapsed).nanoseconds) / 1e9 }
        return total
    }

    /// Total run time: the stages, then the steady part.
    public var totalDuration: Duration { max(duration, stages.reduce(.zero) { $0 + $1.duration }) }
}

/// The kinds of request the generator sends.
public enum RequestKind: String, Sendable, Equatable, CaseIterable, Codable {
    /// A genuine, new provider event (a payment, later a refund) for a seeded order.
    case webhook
    /// A resend of an event already sent (providers retry and redeliver).
    case duplicate
    /// An event whose signature was made with the wrong secret.
    case forged
    /// A genuine signature over a timestamp outside the tolerance (replay of an old capture).
    case stale
    /// A refund sent before the payment it refunds, then the payment.
    case outOfOrder = "out_of_order"
    /// A checkout POST with a new Idempotency-Key.
    case checkout
    /// A checkout POST repeating an earlier one's key and body (a flaky network).
    case checkoutRetry = "checkout_retry"
    /// A status poll of a checkout order.
    case status

    /// Statuses that are a correct answer to this kind (anything else is an error).
    public var expectedStatuses: Set<Int> {
        switch self {
        // 409: a copy of this event is being processed (a redelivery raced it); the provider retries.
        case .webhook, .outOfOrder: [200, 204, 409, 429]
        case .duplicate: [200, 204, 409, 429]
        case .forged, .stale: [400, 401]
        case .checkout: [201, 402, 409, 429]
        case .checkoutRetry: [201, 402, 409, 429]
        case .status: [200, 404, 429]
        }
    }
}

public struct ScenarioError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Reads scenario files; every problem names its line.
public enum ScenarioParser {
    public static func parse(_ text: String, file: String = "scenario.yaml") throws(ScenarioError) -> Scenario {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw ScenarioError("\(file): empty scenario") }
            root = node
        } catch let error as ScenarioError {
            throw error
        } catch {
            throw ScenarioError("\(file): invalid YAML: \(error)")
        }
        guard let map = root.mapping else { throw ScenarioError("\(file): a scenario is a mapping") }
        func fail(_ node: Node?, _ message: String) -> ScenarioError {
            ScenarioError("\(file):\(node?.mark?.line ?? 1):\(node?.mark?.column ?? 1): \(message)")
        }
        let known: Set<String> = ["name", "description", "target", "tenant", "tenants_dir", "http", "mode", "duration", "rate", "stages",
                                  "clients", "connections", "orders", "sources", "mix", "duplicates", "players", "thresholds",
                                  "max_in_flight", "timeout", "currency", "country", "catalog_dir", "game_simulator", "presign"]
        for key in map.keys where !known.contains(key.string ?? "") { throw fail(key, "unknown key '\(key.string ?? "?")'") }
        guard let name = map["name"]?.string, !name.isEmpty else { throw fail(map["name"] ?? root, "'name' is required") }
        var scenario = Scenario(name: name)
        func duration(_ key: String) throws(ScenarioError) -> Duration? {
            guard let node = map[key] else { return nil }
            guard let value = node.string.flatMap(SettingParser.duration), value > .zero else { throw fail(node, "\(key) must be a duration, like 10s") }
            return value
        }
        func positive(_ node: Node?, _ key: String) throws(ScenarioError) -> Double? {
            guard let node else { return nil }
            guard let value = node.float ?? node.int.map(Double.init), value > 0 else { throw fail(node, "\(key) must be a positive number") }
            return value
        }
        scenario.description = map["description"]?.string ?? ""
        if let target = map["target"]?.string { scenario.target = target }
        if let tenant = map["tenant"]?.string { scenario.tenant = tenant }
        if let directory = map["tenants_dir"]?.string { scenario.tenantsDirectory = directory }
        if let node = map["game_simulator"] {
            guard let url = node.string, url.hasPrefix("http://") || url.hasPrefix("https://") else { throw fail(node, "game_simulator must be a base URL, like http://127.0.0.1:9102") }
            scenario.gameSimulator = url
        }
        if let node = map["catalog_dir"] {
            guard let directory = node.string, !directory.isEmpty else { throw fail(node, "catalog_dir must be a directory path") }
            scenario.catalogDirectory = directory
        }
        if let node = map["currency"] {
            guard let currency = node.string, ISO4217.codes.contains(currency) else { throw fail(node, "currency must be an ISO 4217 code in upper case, like USD") }
            scenario.currency = currency
        }
        if let node = map["country"] {
            guard let country = node.string, country.count == 2, country.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                throw fail(node, "country must be an ISO 3166-1 alpha-2 code, like DE")
            }
            scenario.country = country
        }
        if let node = map["http"] {
            guard let value = node.string.flatMap(Scenario.HTTPVersion.init(rawValue:)) else { throw fail(node, "http must be h1 or h2") }
            scenario.http = value
        }
        if let node = map["mode"] {
            guard let value = node.string.flatMap(Scenario.Mode.init(rawValue:)) else { throw fail(node, "mode must be open or closed") }
            scenario.mode = value
        }
        if let value = try duration("duration") { scenario.duration = value }
        if let value = try duration("timeout") { scenario.requestTimeout = value }
        if let value = try positive(map["rate"], "rate") { scenario.rate = value }
        if let value = try positive(map["clients"], "clients") { scenario.clients = Int(value) }
        if let value = try positive(map["connections"], "connections") { scenario.connections = Int(value) }
        if let value = try positive(map["players"], "players") { scenario.players = Int(value) }
        if let value = try positive(map["max_in_flight"], "max_in_flight") { scenario.maxInFlight = Int(value) }
        if let node = map["stages"] {
            guard case .sequence(let list) = node else { throw fail(node, "stages is a list of {rate, duration}") }
            scenario.stages = try list.map { item throws(ScenarioError) in
                guard let rate = item.mapping?["rate"], let value = try positive(rate, "stage rate"),
                      let text = item.mapping?["duration"]?.string, let length = SettingParser.duration(text)
                else { throw fail(item, "a stage is {rate: N, duration: D}") }
                return Scenario.Stage(rate: value, duration: length)
            }
        }
        if let node = map["orders"] {
            guard let seed = node.mapping?["seed"]?.int, seed >= 0 else { throw fail(node, "orders is {seed: N}") }
            scenario.seedOrders = seed
        }
        if let node = map["sources"] {
            guard case .sequence(let list) = node else { throw fail(node, "sources is a list of source names") }
            scenario.sources = list.compactMap(\.string)
        }
        if let node = map["duplicates"] {
            guard let text = node.mapping?["delay"]?.string, let delay = SettingParser.duration(text) else { throw fail(node, "duplicates is {delay: D}") }
            scenario.duplicateDelay = delay
        }
        if let node = map["mix"] {
            guard case .sequence(let list) = node, !list.isEmpty else { throw fail(node, "mix is a list of {kind, weight}") }
            scenario.mix = try list.map { item throws(ScenarioError) in
                guard let kindNode = item.mapping?["kind"], let kind = kindNode.string.flatMap(RequestKind.init(rawValue:)) else {
                    throw fail(item, "kind must be one of \(RequestKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                guard let weight = item.mapping?["weight"]?.int, weight > 0 else { throw fail(item, "weight must be a positive integer") }
                return Scenario.Weighted(kind: kind, weight: weight)
            }
        }
        if let node = map["thresholds"] {
            guard case .sequence(let list) = node else { throw fail(node, "thresholds is a list like [\"p99 < 50ms\"]") }
            scenario.thresholds = try list.map { item throws(ScenarioError) in
                guard let text = item.string, let threshold = Threshold(text) else {
                    throw fail(item, "a threshold is '[kind.]metric < value', metric p50|p90|p99|p99.9|max|errors|rate")
                }
                return threshold
            }
        }
        if let node = map["presign"] {
            guard let presign = node.bool else { throw fail(node, "presign must be true or false") }
            if presign {
                guard scenario.mode == .open else { throw fail(node, "presign needs mode: open (a closed loop has no planned send times)") }
                if let kind = scenario.mix.first(where: { [.checkout, .checkoutRetry, .status].contains($0.kind) })?.kind {
                    throw fail(node, "presign cannot plan \(kind.rawValue) requests ahead: they depend on earlier answers")
                }
            }
            scenario.presign = presign
        }
        return scenario
    }
}

extension Scenario {
    /// The most requests a `presign` scenario may plan (a few KiB each, held for the whole run).
    public static let presignLimit = 200_000

    /// Why this scenario, as overridden on the command line, cannot be signed ahead; nil if it can.
    public var presignProblem: String? {
        guard presign else { return nil }
        if mode != .open { return "presign needs mode: open (a closed loop has no planned send times)" }
        if plannedCount > Double(Self.presignLimit) {
            return "presign holds every request in memory: at most \(Self.presignLimit), this run plans \(Int(plannedCount))"
        }
        return nil
    }
}
