import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import ServiceLifecycle
import TollgateCheckout
import TollgateCore
import TollgateOrders
import TollgateProviderEvents
import TollgateSignatures

/// A Stripe-shaped payment provider on loopback, for development, tests and load tests.
///
/// It serves `POST /v1/payment_intents` the way Stripe does (form body, bearer secret key,
/// `Idempotency-Key` replays the first answer, a reused key with other parameters is an
/// `idempotency_error`), and then, like Stripe, delivers signed webhooks for what happened to
/// the payment, retrying with exponential backoff until the edge answers 2xx.
/// `GET /v1/payment_intents/{id}` (bearer secret key) answers the payment with its
/// `client_secret`, or 404 `{"error":{"type":"invalid_request_error","code":"resource_missing",...}}`.
///
/// Like Stripe, it keeps an idempotency key for 24 hours (``Configuration/idempotencyKeyLifetime``)
/// and then forgets it, so a create retried later opens a second payment. Those hours pass on a
/// simulated clock: real time since start plus every advance.
///
/// Controls (and their Swift equivalents for in-process tests):
/// - `POST /_sim/behaviours` `{"next":["decline","timeout"]}` (``script(_:)``): what the next create
///   requests do, a queue of ``Behaviour`` values falling back to the configured default.
/// - `POST /_sim/payment_intents/{id}/events` `{"kind":"refund.succeeded"}`: a later event of a payment.
/// - `POST /_sim/clock/advance` `{"seconds":90000}` (``advanceClock(by:)``): moves the simulated clock
///   forward and expires the keys then 24 hours old; answers `clock_offset_seconds` and
///   `idempotency_keys_expired` (by this advance).
/// - `POST /_sim/idempotency/forget` (``forgetIdempotencyKeys()``): forgets every stored key at once;
///   answers `idempotency_keys_forgotten`.
/// - `GET /_sim/stats` (``statistics``): `requests` (create requests), `replays` (creates answered
///   from a stored key), `payment_intents_created` (distinct payments opened),
///   `orders_with_more_than_one_payment`, `retrieves`, `retrieves_not_found`,
///   `idempotency_keys_expired`, `idempotency_keys_forgotten`, `clock_offset_seconds` and `deliveries`.
public final class ProviderSimulator: Service, Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 12111
        /// The bearer key the API expects; nil accepts any `sk_test_` key.
        public var secretKey: String?
        /// Where callbacks go; `{tenant}` is replaced with the payment's `metadata[tenant]` and
        /// `{source}` with that tenant's webhook source.
        public var webhookURL: String?
        /// The `whsec_` secret callbacks are signed with, unless their tenant has its own.
        public var webhookSecret = ""
        /// Per tenant: the webhook source its callbacks go to and that source's secret (what the
        /// tenant configured at the real provider).
        public var tenantEndpoints: [String: (source: String, secret: String)] = [:]
        /// PEM file of the CA that signed the edge's certificate (nil: the system's roots).
        public var trustRootsPath: String?
        /// Time between opening a payment and its outcome's callback.
        public var settleDelay: Duration = .milliseconds(200)
        /// First retry delay of a failed delivery; doubles each attempt (Stripe: hours; here: seconds).
        public var retryBaseDelay: Duration = .seconds(1)
        public var maximumDeliveryAttempts = 8
        /// How many times each event is delivered (providers do deliver some events twice).
        public var deliveryCopies = 1
        public var defaultBehaviour: Behaviour = .succeed
        /// How long a `timeout` behaviour holds the request before answering 504.
        public var hangDuration: Duration = .seconds(30)
        /// How long an idempotency key is kept, on the simulated clock (Stripe: 24 hours).
        public var idempotencyKeyLifetime: Duration = .seconds(24 * 3600)

        public init() {}
    }

    /// What the simulator does with one create request.
    public enum Behaviour: Sendable, Equatable, CustomStringConvertible {
        /// Open the payment; deliver `payment_intent.succeeded` after the settle delay.
        case succeed
        /// Open the payment; deliver `payment_intent.payment_failed`.
        case fail
        /// Open the payment; deliver nothing.
        case silent
        /// Answer 402 `card_declined` (stored for the key, as Stripe does).
        case decline
        /// Answer 500 (not stored: a retry with the same key is processed again).
        case error
        /// Hold the request for the hang duration, then 504.
        case timeout
        /// Wait this long, then behave as `succeed`.
        case delay(Duration)

        public init?(_ text: String) {
            switch text {
            case "succeed": self = .succeed
            case "fail": self = .fail
            case "silent": self = .silent
            case "decline": self = .decline
            case "error": self = .error
            case "timeout": self = .timeout
            default:
                guard text.hasPrefix("delay="), let duration = SettingParser.duration(String(text.dropFirst(6))) else { return nil }
                self = .delay(duration)
            }
        }

        public var description: String {
            switch self {
            case .succeed: "succeed"
            case .fail: "fail"
            case .silent: "silent"
            case .decline: "decline"
            case .error: "error"
            case .timeout: "timeout"
            case .delay(let duration): "delay=\(duration.nanoseconds / 1_000_000)ms"
            }
        }
    }

    public let configuration: Configuration
    let state = NIOLockedValueBox(SimulatorState())
    let deliveries: AsyncStream<Delivery>
    let deliveryQueue: AsyncStream<Delivery>.Continuation
    let logger: Logger
    /// The port the API bound (useful with port 0).
    public let boundPort = NIOLockedValueBox<Int?>(nil)
    /// Where callbacks go now (the configured URL, or one set later with ``deliverCallbacks(to:)``).
    let webhookURL: NIOLockedValueBox<String?>
    /// Where the simulated clock starts: real time since then plus ``SimulatorState/clockOffset``.
    let epoch = ContinuousClock.now
    let epochDate = Date()

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.webhookURL = NIOLockedValueBox(configuration.webhookURL)
        self.logger = logger
        (deliveries, deliveryQueue) = AsyncStream.makeStream()
    }

    /// Serves the API and delivers callbacks until cancelled or shut down gracefully.
    public func run() async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let path = configuration.trustRootsPath { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path)) }
        var clientConfiguration = HTTPClient.Configuration(tlsConfiguration: tls)
        clientConfiguration.timeout = .init(connect: .seconds(2), read: .seconds(10))
        // Providers deliver webhooks over HTTP/1.1.
        clientConfiguration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let router = Router()
        routes(on: router)
        let ports = boundPort
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tollgate-provider-sim"),
            onServerRunning: { channel in ports.withLockedValue { $0 = channel.localAddress?.port } },
            logger: logger
        )
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await application.run() }
                group.addTask { [deliveries] in
                    await withTaskGroup(of: Void.self) { sends in
                        for await delivery in deliveries {
                            sends.addTask { await self.deliver(delivery, with: client) }
                        }
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    /// Sends later callbacks to `url` (`{tenant}` is replaced), for a test whose edge starts after the simulator.
    public func deliverCallbacks(to url: String) {
        webhookURL.withLockedValue { $0 = url }
    }

    /// Queues behaviours for the next create requests (tests and load scenarios script with this).
    public func script(_ behaviours: [Behaviour]) {
        state.withLockedValue { $0.script.append(contentsOf: behaviours) }
    }

    /// True while a create request is being processed (held by a `timeout` or `delay` behaviour).
    public var hasRequestsInFlight: Bool { state.withLockedValue { $0.inFlight > 0 } }

    /// The simulated clock: real time since the simulator was made plus every ``advanceClock(by:)``.
    public var simulatedTime: Duration { (ContinuousClock.now - epoch) + state.withLockedValue { $0.clockOffset } }

    /// Moves the simulated clock forward by `duration` (as if that much time passed at the
    /// provider) and expires the idempotency keys first used ``Configuration/idempotencyKeyLifetime``
    /// or longer ago; returns how many it expired.
    @discardableResult
    public func advanceClock(by duration: Duration) -> Int {
        let elapsed = ContinuousClock.now - epoch
        let lifetime = configuration.idempotencyKeyLifetime
        return state.withLockedValue { state in
            state.clockOffset += max(.zero, duration)
            return state.expireKeys(now: elapsed + state.clockOffset, lifetime: lifetime)
        }
    }

    /// Forgets every stored idempotency key at once (as if they had all expired); returns how many.
    @discardableResult
    public func forgetIdempotencyKeys() -> Int {
        state.withLockedValue { state in
            let count = state.idempotency.count
            state.idempotency.removeAll()
            state.keysForgotten += count
            return count
        }
    }

    /// Counters for tests and the load generator's verification.
    public var statistics: SimulatorState.Statistics { state.withLockedValue { $0.statistics } }

    // MARK: - API

    func routes(on router: Router<BasicRequestContext>) {
        router.post("/v1/payment_intents") { request, context in
            try await self.createPaymentIntent(request, context: context)
        }
        router.get("/v1/payment_intents/{id}") { request, context in
            guard self.authorized(request) else { return Self.invalidAPIKey() }
            let id = context.parameters.get("id") ?? ""
            let intent = self.state.withLockedValue { state -> PaymentIntent? in
                state.retrieves += 1
                guard let intent = state.intents[id] else {
                    state.retrievesNotFound += 1
                    return nil
                }
                return intent
            }
            guard let intent else {
                return Self.stripeError(404, type: "invalid_request_error", code: "resource_missing", message: "No such payment_intent: '\(id)'",
                                        extra: ["param": "intent", "doc_url": "https://stripe.com/docs/error-codes/resource-missing"])
            }
            return Self.json(200, intent.json)
        }
        router.post("/_sim/behaviours") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 16)
            let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
            let names = object?["next"] as? [String] ?? []
            let behaviours = names.compactMap(Behaviour.init)
            guard behaviours.count == names.count else { return Self.json(400, ["error": "unknown behaviour in \(names)"]) }
            self.script(behaviours)
            return Self.json(200, ["queued": self.state.withLockedValue { $0.script.map(\.description) }])
        }
        // Later events of a payment, as the provider would send them: refunds, disputes.
        router.post("/_sim/payment_intents/{id}/events") { request, context in
            let id = context.parameters.get("id") ?? ""
            let body = try await request.body.collect(upTo: 1 << 16)
            let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
            guard let intent = self.state.withLockedValue({ $0.intents[id] }) else { return Self.json(404, ["error": "no such payment intent"]) }
            guard let kind = (object?["kind"] as? String).flatMap(PaymentEventKind.init(rawValue:)),
                  ProviderCallback.kinds(for: .stripe).contains(kind)
            else { return Self.json(400, ["error": "kind must be one of \(ProviderCallback.kinds(for: .stripe).map(\.rawValue))"]) }
            let amount = (object?["amount"] as? NSNumber)?.int64Value ?? intent.amount
            let eventID = self.enqueue(kind, for: intent, amount: amount, after: .zero)
            return Self.json(202, ["event_id": eventID])
        }
        router.post("/_sim/clock/advance") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 16)
            let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
            guard let number = object?["seconds"] as? NSNumber, !(number is Bool), number.doubleValue.isFinite,
                  number.doubleValue >= 0, number.doubleValue <= 100 * 365 * 86_400
            else { return Self.json(400, ["error": "the body must be {\"seconds\": N} with N a number of seconds from 0 to 100 years"]) }
            let expired = self.advanceClock(by: .milliseconds(Int64((number.doubleValue * 1000).rounded())))
            return Self.json(200, ["clock_offset_seconds": Self.seconds(self.state.withLockedValue { $0.clockOffset }),
                                   "idempotency_keys_expired": expired])
        }
        router.post("/_sim/idempotency/forget") { _, _ in
            Self.json(200, ["idempotency_keys_forgotten": self.forgetIdempotencyKeys()])
        }
        router.get("/_sim/stats") { _, _ in
            Self.json(200, self.statistics.json)
        }
    }

    /// Whether the request carries the bearer secret key the API expects.
    func authorized(_ request: Request) -> Bool {
        let authorization = request.headers[.authorization] ?? ""
        let key = String(authorization.dropFirst("Bearer ".count))
        return authorization.hasPrefix("Bearer ") && (configuration.secretKey.map { $0 == key } ?? key.hasPrefix("sk_test_"))
    }

    static func invalidAPIKey() -> Response {
        stripeError(401, type: "invalid_request_error", code: "api_key_invalid", message: "Invalid API Key provided.")
    }

    func createPaymentIntent(_ request: Request, context: BasicRequestContext) async throws -> Response {
        guard authorized(request) else { return Self.invalidAPIKey() }
        let body = String(buffer: try await request.body.collect(upTo: 1 << 16))
        let fields = Dictionary(FormEncoding.decode(body), uniquingKeysWith: { $1 })
        guard let amount = fields["amount"].flatMap(Int64.init), amount > 0, let currency = fields["currency"], currency.count == 3 else {
            return Self.stripeError(400, type: "invalid_request_error", code: "parameter_missing", message: "amount and currency are required.")
        }
        let idempotencyKey = request.headers[HTTPField.Name("Idempotency-Key")!]

        // Stripe's idempotency: the first answer is replayed; the same key with other parameters is
        // refused; a key first used 24 hours ago or more (simulated clock) is forgotten, as Stripe forgets it.
        enum Admission { case replay(Int, [UInt8]), mismatch, inUse, proceed(Behaviour, KeyUse?) }
        let elapsed = ContinuousClock.now - epoch
        let lifetime = configuration.idempotencyKeyLifetime
        let admission = state.withLockedValue { state -> Admission in
            state.requests += 1
            let now = elapsed + state.clockOffset
            if let idempotencyKey, let stored = state.idempotency[idempotencyKey], now - stored.storedAt >= lifetime {
                state.idempotency.removeValue(forKey: idempotencyKey)
                state.keysExpired += 1
            }
            if let idempotencyKey, let stored = state.idempotency[idempotencyKey] {
                guard stored.parameters == body else { return .mismatch }
                guard let response = stored.response else { return .inUse }
                state.replays += 1
                return .replay(response.status, response.body)
            }
            var use: KeyUse?
            if let idempotencyKey {
                state.nextKeyUse += 1
                use = KeyUse(key: idempotencyKey, use: state.nextKeyUse)
                state.idempotency[idempotencyKey] = .init(parameters: body, response: nil, storedAt: now, use: state.nextKeyUse)
            }
            state.inFlight += 1
            return .proceed(state.script.isEmpty ? configuration.defaultBehaviour : state.script.removeFirst(), use)
        }
        switch admission {
        case .replay(let status, let body):
            var response = Self.raw(status, body)
            response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return response
        case .mismatch:
            return Self.stripeError(400, type: "idempotency_error", code: "idempotency_key_reused",
                                    message: "Keys for idempotent requests can only be used with the same parameters they were first used with.")
        case .inUse:
            return Self.stripeError(409, type: "idempotency_error", code: "idempotency_key_in_use",
                                    message: "There is currently another in-progress request using this Idempotent Key.")
        case .proceed(let behaviour, let use):
            defer { state.withLockedValue { $0.inFlight -= 1 } }
            return try await perform(behaviour, amount: amount, currency: currency, fields: fields, key: use)
        }
    }

    /// One use of an idempotency key: the key may be forgotten (clock, forget) and used again
    /// while a request is still held, and only this use's entry is then this request's to change.
    struct KeyUse: Sendable {
        var key: String
        var use: Int
    }

    func perform(_ behaviour: Behaviour, amount: Int64, currency: String, fields: [String: String], key: KeyUse?) async throws -> Response {
        func forget() {
            guard let key else { return }
            state.withLockedValue { state in
                if state.idempotency[key.key]?.use == key.use { state.idempotency.removeValue(forKey: key.key) }
            }
        }
        func store(_ status: Int, _ object: [String: Any]) -> Response {
            let body = Self.serialize(object)
            if let key {
                state.withLockedValue { state in
                    if state.idempotency[key.key]?.use == key.use { state.idempotency[key.key]?.response = (status, body) }
                }
            }
            return Self.raw(status, body)
        }
        switch behaviour {
        case .error:
            forget()
            return Self.stripeError(500, type: "api_error", code: "internal_error", message: "Simulated provider failure.")
        case .timeout:
            try? await Task.sleep(for: configuration.hangDuration)
            forget()
            return Self.stripeError(504, type: "api_error", code: "timeout", message: "Simulated timeout.")
        case .decline:
            return store(402, ["error": ["type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                                         "message": "Your card was declined."]])
        case .delay(let duration):
            try? await Task.sleep(for: duration)
            return try await perform(.succeed, amount: amount, currency: currency, fields: fields, key: key)
        case .succeed, .fail, .silent:
            let id = Self.randomID("pi_sim_")
            let metadata = fields.filter { $0.key.hasPrefix("metadata[") }.reduce(into: [String: String]()) {
                $0[String($1.key.dropFirst(9).dropLast())] = $1.value
            }
            let created = Int64(epochDate.timeIntervalSince1970) + simulatedTime.components.seconds
            let intent = PaymentIntent(id: id, amount: amount, currency: currency.lowercased(), metadata: metadata,
                                       clientSecret: "\(id)_secret_\(UUID().uuidString.prefix(8).lowercased())", created: created)
            state.withLockedValue {
                $0.intents[id] = intent
                $0.created += 1
            }
            if behaviour == .succeed { _ = enqueue(.paymentSucceeded, for: intent, amount: amount, after: configuration.settleDelay) }
            if behaviour == .fail { _ = enqueue(.paymentFailed, for: intent, amount: amount, after: configuration.settleDelay) }
            return store(200, intent.json)
        }
    }

    // MARK: - Webhook delivery

    struct Delivery: Sendable {
        var tenant: String
        var callback: ProviderCallback
        var after: Duration
    }

    /// Queues the callback for `kind` on `intent`; returns its event id.
    func enqueue(_ kind: PaymentEventKind, for intent: PaymentIntent, amount: Int64, after delay: Duration) -> String {
        let eventID = Self.randomID("evt_sim_")
        guard webhookURL.withLockedValue({ $0 }) != nil else { return eventID }
        let callback = ProviderCallback(kind: kind, orderID: intent.metadata["order_id"] ?? "", eventID: eventID, paymentID: intent.id,
                                        amountMinor: amount, currency: intent.currency)
        for _ in 0..<max(1, configuration.deliveryCopies) {
            state.withLockedValue { $0.deliveriesPending += 1 }
            deliveryQueue.yield(Delivery(tenant: intent.metadata["tenant"] ?? "", callback: callback, after: delay))
        }
        return eventID
    }

    /// Sends one event until the edge answers 2xx, backing off exponentially, as providers do.
    func deliver(_ delivery: Delivery, with client: HTTPClient) async {
        try? await Task.sleep(for: delivery.after)
        var attempt = 0
        var acknowledged = false
        while attempt < configuration.maximumDeliveryAttempts, !Task.isCancelled {
            attempt += 1
            var callback = delivery.callback
            callback.occurredAt = Date()  // signed at send time, as providers sign each attempt
            let endpoint = configuration.tenantEndpoints[delivery.tenant] ?? (source: "stripe", secret: configuration.webhookSecret)
            guard let signed = callback.signed(by: WebhookSigner(provider: .stripe, secret: Secret(endpoint.secret))) else { break }
            // The endpoint is read at each attempt, as a provider reads its endpoint settings.
            let url = (webhookURL.withLockedValue { $0 } ?? "").replacingOccurrences(of: "{tenant}", with: delivery.tenant)
                .replacingOccurrences(of: "{source}", with: endpoint.source)
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            for (name, value) in signed.headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: signed.body))
            var status = 0
            do {
                let response = try await client.execute(request, timeout: .seconds(10))
                status = Int(response.status.code)
                _ = try await response.body.collect(upTo: 1 << 20)
            } catch {
                logger.debug("callback delivery failed", metadata: ["event": "\(callback.eventID)", "error": "\(error)"])
            }
            state.withLockedValue { $0.deliveryAttempts += 1 }
            if (200..<300).contains(status) { acknowledged = true; break }
            try? await Task.sleep(for: configuration.retryBaseDelay * (1 << min(attempt - 1, 16)))
        }
        state.withLockedValue {
            $0.deliveriesPending -= 1
            if acknowledged { $0.deliveriesAcknowledged += 1 } else { $0.deliveriesAbandoned += 1 }
        }
    }

    /// `prefix` and 24 random lower-case hex digits, like Stripe's object ids.
    static func randomID(_ prefix: String) -> String {
        prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24).lowercased()
    }

    // MARK: - Responses

    static func json(_ status: Int, _ object: [String: Any]) -> Response {
        raw(status, serialize(object))
    }

    static func serialize(_ object: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
    }

    static func raw(_ status: Int, _ body: [UInt8]) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func stripeError(_ status: Int, type: String, code: String, message: String, extra: [String: String] = [:]) -> Response {
        json(status, ["error": extra.merging(["type": type, "code": code, "message": message]) { $1 }])
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// A payment the simulator opened.
struct PaymentIntent: Sendable {
    var id: String
    var amount: Int64
    var currency: String
    var metadata: [String: String]
    var clientSecret: String
    /// Unix seconds on the simulated clock.
    var created: Int64

    var json: [String: Any] {
        ["id": id, "object": "payment_intent", "amount": amount, "currency": currency, "status": "requires_payment_method",
         "client_secret": clientSecret, "metadata": metadata, "livemode": false, "created": created]
    }
}

/// Everything the simulator remembers.
public struct SimulatorState: Sendable {
    struct StoredRequest: Sendable {
        var parameters: String
        var response: (status: Int, body: [UInt8])?
        /// When the key was first used, on the simulated clock.
        var storedAt: Duration
        /// Which use of the key this is (see ``ProviderSimulator/KeyUse``).
        var use: Int
    }

    var intents: [String: PaymentIntent] = [:]
    var idempotency: [String: StoredRequest] = [:]
    var script: [ProviderSimulator.Behaviour] = []
    /// How far the simulated clock was moved ahead of real time.
    var clockOffset: Duration = .zero
    var nextKeyUse = 0
    var inFlight = 0
    var requests = 0
    var replays = 0
    var created = 0
    var retrieves = 0
    var retrievesNotFound = 0
    var keysExpired = 0
    var keysForgotten = 0
    var deliveryAttempts = 0
    var deliveriesPending = 0
    var deliveriesAcknowledged = 0
    var deliveriesAbandoned = 0

    /// Drops the keys first used `lifetime` or longer before `now`; returns how many.
    mutating func expireKeys(now: Duration, lifetime: Duration) -> Int {
        let before = idempotency.count
        idempotency = idempotency.filter { now - $0.value.storedAt < lifetime }
        keysExpired += before - idempotency.count
        return before - idempotency.count
    }

    public struct Statistics: Sendable, Equatable {
        /// Create requests received, replays answered from the idempotency store, payments opened
        /// (each a distinct PaymentIntent).
        public var requests: Int
        public var replays: Int
        public var paymentIntentsCreated: Int
        /// Payments opened per `metadata[order_id]`: more than one would be a double charge.
        public var paymentIntentsPerOrder: [String: Int]
        /// Retrieve requests (`GET /v1/payment_intents/{id}`) with a valid key, and those of them answered 404.
        public var retrieves: Int
        public var retrievesNotFound: Int
        /// Idempotency keys dropped because the simulated clock passed their lifetime, and dropped by a forget.
        public var idempotencyKeysExpired: Int
        public var idempotencyKeysForgotten: Int
        /// How far the simulated clock was advanced ahead of real time.
        public var clockOffset: Duration
        public var deliveryAttempts: Int
        public var deliveriesPending: Int
        public var deliveriesAcknowledged: Int
        public var deliveriesAbandoned: Int

        public var json: [String: Any] {
            ["requests": requests, "replays": replays, "payment_intents_created": paymentIntentsCreated,
             "orders_with_more_than_one_payment": paymentIntentsPerOrder.filter { $0.value > 1 }.count,
             "retrieves": retrieves, "retrieves_not_found": retrievesNotFound,
             "idempotency_keys_expired": idempotencyKeysExpired, "idempotency_keys_forgotten": idempotencyKeysForgotten,
             "clock_offset_seconds": ProviderSimulator.seconds(clockOffset),
             "deliveries": ["attempts": deliveryAttempts, "pending": deliveriesPending, "acknowledged": deliveriesAcknowledged,
                            "abandoned": deliveriesAbandoned]]
        }
    }

    var statistics: Statistics {
        Statistics(
            requests: requests, replays: replays, paymentIntentsCreated: created,
            paymentIntentsPerOrder: intents.values.reduce(into: [:]) { $0[$1.metadata["order_id"] ?? "", default: 0] += 1 },
            retrieves: retrieves, retrievesNotFound: retrievesNotFound,
            idempotencyKeysExpired: keysExpired, idempotencyKeysForgotten: keysForgotten, clockOffset: clockOffset,
            deliveryAttempts: deliveryAttempts, deliveriesPending: deliveriesPending,
            deliveriesAcknowledged: deliveriesAcknowledged, deliveriesAbandoned: deliveriesAbandoned
        )
    }
}
