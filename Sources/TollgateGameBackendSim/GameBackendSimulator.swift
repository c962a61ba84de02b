import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import TollgateCore
import TollgateOrders
import TollgateSignatures

/// A game backend on loopback that receives the edge's fulfilment deliveries, for development,
/// tests and load tests: the counterpart of the provider simulator.
///
/// It serves `POST /tollgate` as a careful backend would: it verifies the Standard Webhooks
/// signature, applies each `webhook-id` at most once, grants on `order.paid`/`order.reinstated`,
/// revokes on `order.refunded`/`order.charged_back`, and answers `player.verify`. It records what it
/// applied, in order, so a load verifier can check one grant per order and no revoke before a grant.
///
/// Controls (and their Swift equivalents for in-process tests):
/// - `POST /_sim/script` / `GET /_sim/script` (``script``): faults and player lists, replaced whole.
/// - `GET /_sim/stats` (``statistics``), `GET /_sim/orders/{order_id}` (``order(_:)``),
///   `GET /_sim/deliveries` (``deliveries``), `POST /_sim/reset` (``reset()``).
public final class GameBackendSimulator: Sendable {
    /// Faults and player lists the simulator answers by. In JSON every field is optional (snake_case
    /// keys) and takes the default stated here, so `POST /_sim/script` replaces the whole script.
    public struct Script: Sendable, Codable, Equatable {
        /// Share of deliveries, 0-100, answered with ``status`` before anything is applied. Default 0.
        public var failPercent: Int
        /// The status of an injected failure, 400-599. Default 500.
        public var status: Int
        /// `Retry-After` seconds sent with an injected 429 or 503. Default none.
        public var retryAfter: Int?
        /// How long every answer at `POST /tollgate` waits, 0-600000 ms. Default 0.
        public var slowMilliseconds: Int
        /// Answer every delivery 410, as a backend that retired its endpoint. Default false.
        public var gone: Bool
        /// Players whose grants are declined with 422 `player_banned`. Default none.
        public var declinePlayers: [String]
        /// Players `player.verify` answers 404 `unknown`. Default none.
        public var unknownPlayers: [String]
        /// Players `player.verify` answers 403 `banned`. Default none.
        public var bannedPlayers: [String]

        public init(failPercent: Int = 0, status: Int = 500, retryAfter: Int? = nil, slowMilliseconds: Int = 0, gone: Bool = false,
                    declinePlayers: [String] = [], unknownPlayers: [String] = [], bannedPlayers: [String] = []) {
            self.failPercent = failPercent
            self.status = status
            self.retryAfter = retryAfter
            self.slowMilliseconds = slowMilliseconds
            self.gone = gone
            self.declinePlayers = declinePlayers
            self.unknownPlayers = unknownPlayers
            self.bannedPlayers = bannedPlayers
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case failPercent = "fail_percent", status, retryAfter = "retry_after", slowMilliseconds = "slow_ms", gone
            case declinePlayers = "decline_players", unknownPlayers = "unknown_players", bannedPlayers = "banned_players"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = Script()
            failPercent = try container.decodeIfPresent(Int.self, forKey: .failPercent) ?? defaults.failPercent
            status = try container.decodeIfPresent(Int.self, forKey: .status) ?? defaults.status
            retryAfter = try container.decodeIfPresent(Int.self, forKey: .retryAfter) ?? defaults.retryAfter
            slowMilliseconds = try container.decodeIfPresent(Int.self, forKey: .slowMilliseconds) ?? defaults.slowMilliseconds
            gone = try container.decodeIfPresent(Bool.self, forKey: .gone) ?? defaults.gone
            declinePlayers = try container.decodeIfPresent([String].self, forKey: .declinePlayers) ?? defaults.declinePlayers
            unknownPlayers = try container.decodeIfPresent([String].self, forKey: .unknownPlayers) ?? defaults.unknownPlayers
            bannedPlayers = try container.decodeIfPresent([String].self, forKey: .bannedPlayers) ?? defaults.bannedPlayers
        }

        /// Writes every field, `retry_after` as null when unset, so `GET /_sim/script` shows the whole script.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(failPercent, forKey: .failPercent)
            try container.encode(status, forKey: .status)
            try container.encode(retryAfter, forKey: .retryAfter)
            try container.encode(slowMilliseconds, forKey: .slowMilliseconds)
            try container.encode(gone, forKey: .gone)
            try container.encode(declinePlayers, forKey: .declinePlayers)
            try container.encode(unknownPlayers, forKey: .unknownPlayers)
            try container.encode(bannedPlayers, forKey: .bannedPlayers)
        }

        /// Every field out of its range, as `field: what it must be`; empty when the script is usable.
        public func validationProblems() -> [String] {
            var problems: [String] = []
            if !(0...100).contains(failPercent) { problems.append("fail_percent: \(failPercent) is not a share from 0 to 100") }
            if !(400...599).contains(status) { problems.append("status: \(status) is not an error status from 400 to 599") }
            if let retryAfter, !(0...86_400).contains(retryAfter) { problems.append("retry_after: \(retryAfter) is not a number of seconds from 0 to 86400") }
            if !(0...600_000).contains(slowMilliseconds) { problems.append("slow_ms: \(slowMilliseconds) is not a number of milliseconds from 0 to 600000") }
            return problems
        }

        /// Reads a script from a JSON object; an unknown key is refused, since a misspelt fault
        /// silently left out would make a test pass for the wrong reason.
        public static func decode(_ body: [UInt8]) throws(InvalidScript) -> Script {
            let fields = CodingKeys.allCases.map(\.rawValue)
            guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
                throw InvalidScript(reasons: ["the body must be a JSON object with some of the fields \(fields.joined(separator: ", "))"])
            }
            let unknown = Set(object.keys).subtracting(fields).sorted()
            guard unknown.isEmpty else {
                throw InvalidScript(reasons: unknown.map { "\($0): not a script field (fields: \(fields.joined(separator: ", ")))" })
            }
            let script: Script
            do {
                script = try JSONDecoder().decode(Script.self, from: Data(body))
            } catch let error as DecodingError {
                throw InvalidScript(reasons: [error.contractDescription])
            } catch {
                throw InvalidScript(reasons: ["the body is not a script"])
            }
            let problems = script.validationProblems()
            guard problems.isEmpty else { throw InvalidScript(reasons: problems) }
            return script
        }

        var slowDelay: Duration { .milliseconds(slowMilliseconds) }
    }

    /// Why a script was refused, one reason per field.
    public struct InvalidScript: Error, Sendable, Equatable, CustomStringConvertible {
        public var reasons: [String]
        public var description: String { reasons.joined(separator: "; ") }
    }

    /// The recorded state and the random source of injected failures, behind one lock so that a
    /// delivery's check for a repeat and its application are one step: two copies of a webhook
    /// arriving at once must not both be applied.
    struct Shared: Sendable {
        var state: GameBackendState
        var generator: SplitMix64
    }

    /// The largest request body `POST /tollgate` reads.
    static let maximumBodySize = 1 << 20

    let scheme: StandardWebhooksSignatureScheme
    /// What ``reset()`` returns to: the starting script and seed, as if the simulator were new.
    let initial: Shared
    let shared: NIOLockedValueBox<Shared>
    let logger: Logger

    /// - Parameters:
    ///   - secrets: the `whsec_` secrets deliveries may be signed with (several during a rotation).
    ///   - seed: seeds the choice of injected failures so a run can be repeated; nil picks one at random.
    public init(secrets: [Secret], script: Script = Script(), seed: UInt64? = nil, logger: Logger) {
        let start = Shared(state: GameBackendState(script: script), generator: SplitMix64(seed: seed ?? UInt64.random(in: .min ... .max)))
        self.scheme = StandardWebhooksSignatureScheme(secrets: secrets)
        self.initial = start
        self.shared = NIOLockedValueBox(start)
        self.logger = logger
    }

    /// The script in force; setting it replaces the whole script.
    public var script: Script {
        get { shared.withLockedValue { $0.state.script } }
        set { shared.withLockedValue { $0.state.script = newValue } }
    }

    /// Counters for tests and the load generator's verification.
    public var statistics: GameBackendState.Statistics { shared.withLockedValue { $0.state.statistics } }

    /// Applied and declined deliveries in the order they were decided.
    public var deliveries: [RecordedDelivery] { shared.withLockedValue { $0.state.deliveries } }

    /// What the simulator recorded for `orderID`, or nil if no delivery of it was applied or declined.
    public func order(_ orderID: String) -> OrderRecord? { shared.withLockedValue { $0.state.orders[orderID] } }

    /// Forgets every delivery and counter and returns to the starting script and seed.
    public func reset() {
        let initial = self.initial
        shared.withLockedValue { $0 = initial }
    }

    /// The simulator as a Hummingbird application: run it in a `ServiceGroup`, or test it in process
    /// with `app.test(.router)`.
    ///
    /// ```swift
    /// let app = simulator.application(host: "127.0.0.1", port: 0) { channel in print(channel.localAddress as Any) }
    /// ```
    public func application(host: String = "127.0.0.1", port: Int = 9102,
                            onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        routes(on: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "tollgate-game-backend-sim"),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    // MARK: - HTTP adapter

    func routes(on router: Router<BasicRequestContext>) {
        router.post("/tollgate") { request, _ -> Response in
            try await self.receive(request)
        }
        router.get("/_sim/stats") { _, _ -> Response in
            SimulatorAnswer.json(200, self.statistics.json).response
        }
        router.get("/_sim/orders/{order_id}") { _, context -> Response in
            let orderID = context.parameters.get("order_id") ?? ""
            guard let order = self.order(orderID) else {
                return SimulatorAnswer.problem(.notFound, detail: "no delivery of order \(orderID) was applied or declined").response
            }
            return SimulatorAnswer.json(200, order.json).response
        }
        router.get("/_sim/deliveries") { _, _ -> Response in
            SimulatorAnswer.json(200, .object([("deliveries", .array(self.deliveries.map(\.json)))])).response
        }
        router.get("/_sim/script") { _, _ -> Response in
            Self.scriptResponse(self.script)
        }
        router.post("/_sim/script") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            do throws(InvalidScript) {
                let script = try Script.decode(Array(body.readableBytesView))
                self.script = script
                return Self.scriptResponse(script)
            } catch {
                return SimulatorAnswer.problem(.badRequest, detail: error.description).response
            }
        }
        router.post("/_sim/reset") { _, _ -> Response in
            self.reset()
            return SimulatorAnswer.json(200, .object([("reset", .bool(true))])).response
        }
    }

    /// One request to `POST /tollgate`: read it, verify and parse it, decide under the lock, wait
    /// as the script says, answer. The wait comes after the decision, as a backend that commits
    /// and then answers late: the edge times out and retries, and must be answered as a repeat.
    func receive(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: Self.maximumBodySize)
        let signed = SignedRequest(headers: request.headers.map { ($0.name.canonicalName, $0.value) }, body: Array(body.readableBytesView))
        let now = Date()
        let received = await ReceivedRequest.read(signed, verifiedBy: scheme, now: now)
        let (answer, delay) = shared.withLockedValue { shared -> (SimulatorAnswer, Duration) in
            var generator = shared.generator
            let answer = shared.state.receive(received, at: now, random: &generator)
            shared.generator = generator
            return (answer, shared.state.script.slowDelay)
        }
        if answer.status == 400 || answer.status == 401 {
            logger.debug("delivery refused", metadata: ["status": "\(answer.status)", "body": "\(answer.body.serialized)"])
        }
        if delay > .zero { try? await Task.sleep(for: delay) }
        return answer.response
    }

    static func scriptResponse(_ script: Script) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = (try? encoder.encode(script)) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension SimulatorAnswer {
    /// The answer as Hummingbird sends it.
    var response: Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body.serialized)))
    }
}

// MARK: - The pure part: requests in, answers out

/// What each delivery type does to the player's items: the contract's table.
public enum FulfilmentEffect: Sendable, Equatable {
    case grant
    case revoke
    /// Kept in the order's history only.
    case record
}

/// The deliveries of the fulfilment contract, as the edge names them (`player.verify` is a
/// question, not a delivery).
public typealias DeliveryType = FulfilmentEvent

extension FulfilmentEvent {
    /// What the simulator does with it: a grant, a revoke, or a line in the order's history.
    public var effect: FulfilmentEffect { grants ? .grant : revokes ? .revoke : .record }
}

/// The `data` of a delivery: the order as the edge describes it.
public struct DeliveredOrder: Sendable, Equatable, Decodable {
    public struct Line: Sendable, Equatable, Decodable {
        public var sku: String
        public var quantity: Int
        public init(sku: String, quantity: Int) { self.sku = sku; self.quantity = quantity }
    }

    public struct Payment: Sendable, Equatable, Decodable {
        public var provider: String
        public var id: String
        public init(provider: String, id: String) { self.provider = provider; self.id = id }
    }

    public var tenant: String
    public var orderID: String
    /// Nil for an order no player is known for (the contract sends null).
    public var playerID: String?
    public var status: String
    public var amountMinor: Int64
    public var currency: String
    public var refundedMinor: Int64
    public var lines: [Line]
    public var payment: Payment

    public init(tenant: String, orderID: String, playerID: String?, status: String, amountMinor: Int64, currency: String,
                refundedMinor: Int64 = 0, lines: [Line], payment: Payment) {
        self.tenant = tenant
        self.orderID = orderID
        self.playerID = playerID
        self.status = status
        self.amountMinor = amountMinor
        self.currency = currency
        self.refundedMinor = refundedMinor
        self.lines = lines
        self.payment = payment
    }

    enum CodingKeys: String, CodingKey {
        case tenant, orderID = "order_id", playerID = "player_id", status, amountMinor = "amount_minor", currency
        case refundedMinor = "refunded_minor", lines, payment
    }
}

/// A request to `POST /tollgate` once its signature and body have been read.
public enum ReceivedRequest: Sendable, Equatable {
    /// The signature did not verify; nothing in the body is trusted.
    case forged(VerificationFailure)
    /// Authentic, but the body does not follow the contract (the reason, without the body).
    case malformed(String)
    case playerVerification(tenant: String, playerID: String)
    case delivery(webhookID: String, type: DeliveryType, order: DeliveredOrder)

    /// Verifies `signed` with `scheme` at `now`, then parses its body.
    public static func read(_ signed: SignedRequest, verifiedBy scheme: some SignatureScheme, now: Date) async -> ReceivedRequest {
        do throws(VerificationFailure) {
            try await scheme.verify(signed, now: now)
        } catch {
            return .forged(error)
        }
        // The scheme accepts Svix's header names too, so the id is read the same way.
        guard let webhookID = signed.header("webhook-id") ?? signed.header("svix-id") else { return .malformed("no webhook-id header") }
        return parse(signed.body, webhookID: webhookID)
    }

    /// Parses an authentic body `{"type", "timestamp", "data"}`.
    public static func parse(_ body: [UInt8], webhookID: String) -> ReceivedRequest {
        let decoder = JSONDecoder()
        let bytes = Data(body)
        do {
            let head = try decoder.decode(EnvelopeHead.self, from: bytes)
            guard ISO8601Timestamp.parse(head.timestamp) != nil else {
                return .malformed("timestamp \"\(head.timestamp.prefix(64))\" is not an RFC 3339 date-time")
            }
            if head.type == "player.verify" {
                let question = try decoder.decode(Envelope<PlayerQuestion>.self, from: bytes).data
                return .playerVerification(tenant: question.tenant, playerID: question.playerID)
            }
            guard let type = DeliveryType(rawValue: head.type) else {
                let known = (DeliveryType.allCases.map(\.rawValue) + ["player.verify"]).joined(separator: ", ")
                return .malformed("type \"\(head.type.prefix(64))\" is not one of \(known)")
            }
            let order = try decoder.decode(Envelope<DeliveredOrder>.self, from: bytes).data
            return .delivery(webhookID: webhookID, type: type, order: order)
        } catch let error as DecodingError {
            return .malformed(error.contractDescription)
        } catch {
            return .malformed("the body is not JSON")
        }
    }

    struct EnvelopeHead: Decodable {
        var type: String
        var timestamp: String
    }

    struct Envelope<Payload: Decodable>: Decodable {
        var data: Payload
    }

    struct PlayerQuestion: Decodable {
        var tenant: String
        var playerID: String
        enum CodingKeys: String, CodingKey { case tenant, playerID = "player_id" }
    }
}

/// How the simulator answers one request: a status, a JSON body, and `Retry-After` when a fault says so.
public struct SimulatorAnswer: Sendable, Equatable {
    public var status: Int
    public var body: JSONValue
    public var contentType: String
    public var retryAfterSeconds: Int?

    public static func json(_ status: Int, _ body: JSONValue) -> SimulatorAnswer {
        SimulatorAnswer(status: status, body: body, contentType: "application/json", retryAfterSeconds: nil)
    }

    /// An RFC 9457 document of one of Tollgate's problem kinds.
    public static func problem(_ kind: ProblemKind, detail: String) -> SimulatorAnswer {
        let problem = Problem(kind, detail: detail)
        return SimulatorAnswer(status: problem.status, body: problem.jsonObject(), contentType: Problem.mediaType, retryAfterSeconds: nil)
    }

    /// A failure the script injected. Its own problem type, since its status (410, 429, any 4xx or
    /// 5xx) need not be one a Tollgate problem kind stands for.
    static func injected(status: Int, title: String, detail: String, retryAfterSeconds: Int?) -> SimulatorAnswer {
        let body = JSONValue.object([("type", .string("urn:tollgate:game-backend-sim:injected-failure")), ("title", .string(title)),
                                     ("status", .int(status)), ("detail", .string(detail))])
        return SimulatorAnswer(status: status, body: body, contentType: Problem.mediaType, retryAfterSeconds: retryAfterSeconds)
    }

    static func applied(_ webhookID: String) -> SimulatorAnswer {
        json(200, .object([("webhook_id", .string(webhookID)), ("outcome", .string("applied"))]))
    }

    /// The decline body the contract gives the edge for a grant the backend refuses.
    static let declined = json(422, .object([("decline", .object([("reason", .string("player_banned"))]))]))
}

/// Whether a delivery's grant or revoke was applied, or its grant declined.
public enum DeliveryOutcome: String, Sendable, Equatable {
    case applied
    case declined
}

/// One delivery the simulator applied or declined.
public struct RecordedDelivery: Sendable, Equatable {
    public let webhookID: String
    public let type: DeliveryType
    public let tenant: String
    public let orderID: String
    public let playerID: String?
    /// When it was applied or declined.
    public let at: Date
    public let outcome: DeliveryOutcome

    /// The delivery as its order's history shows it.
    public var orderEventJSON: JSONValue {
        .object([("type", .string(type.rawValue)), ("webhook_id", .string(webhookID)),
                 ("at", .string(ISO8601Timestamp.format(at))), ("outcome", .string(outcome.rawValue))])
    }

    public var json: JSONValue {
        .object([("webhook_id", .string(webhookID)), ("type", .string(type.rawValue)), ("tenant", .string(tenant)),
                 ("order_id", .string(orderID)), ("player_id", playerID.map(JSONValue.string) ?? .null),
                 ("at", .string(ISO8601Timestamp.format(at))), ("outcome", .string(outcome.rawValue))])
    }
}

/// What the simulator knows of one order.
public struct OrderRecord: Sendable, Equatable {
    public let orderID: String
    /// A grant was applied and no revoke since: the player holds the items.
    public internal(set) var granted = false
    /// A grant was applied at some time; a revoke without one is a revoke before grant.
    public internal(set) var hasBeenGranted = false
    public internal(set) var events: [RecordedDelivery] = []

    public var json: JSONValue {
        .object([("order_id", .string(orderID)), ("granted", .bool(granted)),
                 ("events", .array(events.map(\.orderEventJSON)))])
    }
}

/// Everything the simulator was sent and did, and the decision of each answer: a value, so the
/// rules are tested without a server.
public struct GameBackendState: Sendable {
    /// Counters a load test asserts on.
    public struct Statistics: Sendable, Equatable {
        /// Requests to `POST /tollgate` answered, whatever the answer.
        public internal(set) var received = 0
        /// Deliveries applied (grants, revokes and record-only deliveries), each webhook-id once.
        public internal(set) var applied = 0
        /// Repeats of a webhook-id already applied or declined, answered as the first time.
        public internal(set) var duplicates = 0
        public internal(set) var rejectedSignature = 0
        /// Authentic requests whose body does not follow the contract (400).
        public internal(set) var malformed = 0
        public internal(set) var failedInjected = 0
        public internal(set) var failedInjectedByStatus: [Int: Int] = [:]
        public internal(set) var declined = 0
        public internal(set) var grants = 0
        /// Grants applied to an order already granted: the player was given the items twice.
        public internal(set) var grantsWhileGranted = 0
        public internal(set) var revokes = 0
        public internal(set) var revokesBeforeGrant = 0
        public internal(set) var playerVerifications = 0
        /// Orders with at least one delivery applied.
        public internal(set) var orders = 0

        public var json: JSONValue {
            let byStatus: [(String, JSONValue)] = failedInjectedByStatus.sorted { $0.key < $1.key }.map { entry in
                (String(entry.key), JSONValue.int(entry.value))
            }
            return .object([("received", .int(received)), ("applied", .int(applied)), ("duplicates", .int(duplicates)),
                     ("rejected_signature", .int(rejectedSignature)), ("malformed", .int(malformed)),
                     ("failed_injected", .int(failedInjected)), ("failed_injected_by_status", .object(byStatus)),
                     ("declined", .int(declined)), ("grants", .int(grants)), ("grants_while_granted", .int(grantsWhileGranted)),
                     ("revokes", .int(revokes)), ("revokes_before_grant", .int(revokesBeforeGrant)),
                     ("player_verifications", .int(playerVerifications)), ("orders", .int(orders))])
        }
    }

    public var script: GameBackendSimulator.Script
    public private(set) var statistics = Statistics()
    /// Applied and declined deliveries, in the order they were decided.
    public private(set) var deliveries: [RecordedDelivery] = []
    public private(set) var orders: [String: OrderRecord] = [:]
    /// The answer given to each webhook-id applied or declined, given again to its repeats.
    var answers: [String: SimulatorAnswer] = [:]

    public init(script: GameBackendSimulator.Script = .init()) {
        self.script = script
    }

    /// Decides the answer to `request` at `now` and records what it applied. `random` decides
    /// which deliveries the script's `fail_percent` fails.
    public mutating func receive(_ request: ReceivedRequest, at now: Date, random: inout some RandomNumberGenerator) -> SimulatorAnswer {
        statistics.received += 1
        switch request {
        case .forged(let failure):
            statistics.rejectedSignature += 1
            return .problem(.unauthorized, detail: "the webhook signature did not verify: \(failure.rawValue)")
        case .malformed(let reason):
            statistics.malformed += 1
            return .problem(.badRequest, detail: reason)
        case .playerVerification(_, let playerID):
            statistics.playerVerifications += 1
            return verify(playerID: playerID)
        case .delivery(let webhookID, let type, let order):
            return deliver(type, of: order, webhookID: webhookID, at: now, random: &random)
        }
    }

    /// Faults first (they stand for what fails in front of a backend), then repeats, then the decline list.
    mutating func deliver(_ type: DeliveryType, of order: DeliveredOrder, webhookID: String, at now: Date,
                          random: inout some RandomNumberGenerator) -> SimulatorAnswer {
        if let failure = injectedFailure(random: &random) {
            statistics.failedInjected += 1
            statistics.failedInjectedByStatus[failure.status, default: 0] += 1
            return failure
        }
        if let earlier = answers[webhookID] {
            statistics.duplicates += 1
            return earlier
        }
        if type.effect == .grant, let playerID = order.playerID, script.declinePlayers.contains(playerID) {
            return record(type, of: order, webhookID: webhookID, at: now, outcome: .declined)
        }
        return record(type, of: order, webhookID: webhookID, at: now, outcome: .applied)
    }

    func injectedFailure(random: inout some RandomNumberGenerator) -> SimulatorAnswer? {
        if script.gone {
            return .injected(status: 410, title: "The backend is gone.", detail: "the script says gone", retryAfterSeconds: nil)
        }
        guard script.failPercent > 0, Int.random(in: 0..<100, using: &random) < script.failPercent else { return nil }
        // Retry-After belongs to 429 (RFC 6585 section 4) and 503 (RFC 9110 section 15.6.4); on another failure it would mislead.
        let retryAfter = script.status == 429 || script.status == 503 ? script.retryAfter : nil
        return .injected(status: script.status, title: "Injected failure.", detail: "fail_percent \(script.failPercent) chose this delivery",
                         retryAfterSeconds: retryAfter)
    }

    mutating func record(_ type: DeliveryType, of order: DeliveredOrder, webhookID: String, at now: Date, outcome: DeliveryOutcome) -> SimulatorAnswer {
        let delivery = RecordedDelivery(webhookID: webhookID, type: type, tenant: order.tenant, orderID: order.orderID,
                                        playerID: order.playerID, at: now, outcome: outcome)
        var orderRecord = orders[order.orderID] ?? OrderRecord(orderID: order.orderID)
        let answer: SimulatorAnswer
        switch outcome {
        case .declined:
            statistics.declined += 1
            answer = .declined
        case .applied:
            statistics.applied += 1
            if !orderRecord.events.contains(where: { $0.outcome == .applied }) { statistics.orders += 1 }
            apply(type.effect, to: &orderRecord)
            answer = .applied(webhookID)
        }
        orderRecord.events.append(delivery)
        orders[order.orderID] = orderRecord
        deliveries.append(delivery)
        answers[webhookID] = answer
        return answer
    }

    mutating func apply(_ effect: FulfilmentEffect, to record: inout OrderRecord) {
        switch effect {
        case .grant:
            statistics.grants += 1
            if record.granted { statistics.grantsWhileGranted += 1 }
            record.granted = true
            record.hasBeenGranted = true
        case .revoke:
            statistics.revokes += 1
            if !record.hasBeenGranted { statistics.revokesBeforeGrant += 1 }
            record.granted = false
        case .record:
            break
        }
    }

    /// Banned before unknown: a player on both lists exists and may not play.
    func verify(playerID: String) -> SimulatorAnswer {
        let (status, standing) = script.bannedPlayers.contains(playerID) ? (403, "banned")
            : script.unknownPlayers.contains(playerID) ? (404, "unknown") : (200, "active")
        return .json(status, .object([("player_id", .string(playerID)), ("status", .string(standing))]))
    }
}

extension DecodingError {
    /// Where the body leaves the contract, by JSON path, without echoing its values.
    var contractDescription: String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce(into: "") { path, key in
                if let index = key.intValue { path += "[\(index)]" } else { path += path.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
        }
        switch self {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])) is missing"
        case .valueNotFound(_, let context): return "\(path(context.codingPath)) is null"
        case .typeMismatch(let type, let context): return "\(path(context.codingPath)) is not of type \(type)"
        case .dataCorrupted(let context): return context.codingPath.isEmpty ? "the body is not JSON" : "\(path(context.codingPath)) is malformed"
        @unknown default: return "the body does not follow the contract"
        }
    }
}
