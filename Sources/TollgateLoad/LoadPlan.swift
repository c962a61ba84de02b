import Foundation
import TollgateCore
import TollgateOrders
import TollgateProviderEvents
import TollgateSignatures

/// A webhook source the generator signs for, as the tenant's configuration describes it.
public struct LoadSource: Sendable {
    public var name: String
    public var provider: Provider
    public var signer: WebhookSigner
    /// A signer with a secret the edge does not know: forgeries.
    public var forger: WebhookSigner
    /// Whether the provider signs a timestamp (only then can a capture be stale).
    public var signsTimestamp: Bool

    public init(name: String, provider: Provider, secret: Secret, authorization: Secret? = nil) {
        self.name = name
        self.provider = provider
        self.signer = WebhookSigner(provider: provider, secret: secret, authorization: authorization)
        self.forger = WebhookSigner(provider: provider, secret: provider.forgerSecret, authorization: authorization)
        self.signsTimestamp = provider.signsTimestamp
    }
}

/// One request the generator is about to send.
public struct PlannedRequest: Sendable {
    public var kind: RequestKind
    public var method: String
    public var path: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// What the ledger notes when the answer comes.
    public var note: LedgerNote
}

public enum LedgerNote: Sendable {
    case genuineEvent(source: String, storedID: String)
    case forgedEvent(source: String, storedID: String)
    case checkout(key: String, player: String)
    case none
}

/// Decides what to send next, and remembers what was sent and how it was answered (the ledger
/// that `--verify` checks Postgres against). Pure and deterministic for a seed; the runner keeps
/// it behind a lock.
public struct LoadPlan: Sendable {
    public struct SeededOrder: Sendable {
        public var id: String
        public var amountMinor: Int64
        public var currency: String

        public init(id: String, amountMinor: Int64, currency: String) {
            self.id = id
            self.amountMinor = amountMinor
            self.currency = currency
        }
    }

    public struct Player: Sendable {
        public var id: String
        public var token: String

        public init(id: String, token: String) {
            self.id = id
            self.token = token
        }
    }

    let scenario: Scenario
    let runID: String
    /// Xsolla ids are numbers: a run-specific numeric prefix keeps runs apart.
    let runNumber: String
    let sources: [LoadSource]
    let orders: [SeededOrder]
    let players: [Player]
    let mixTotal: Int
    var random: SplitMix64
    var counter = 0
    /// Next seeded order whose payment has not been sent.
    var nextUnpaid = 0
    var paid: [Int] = []
    /// Recently sent genuine events, for duplicates: (callback, source index, sent at).
    var recent: [(ProviderCallback, Int, Duration)] = []
    /// Checkout bodies sent, for retries; order ids answered, for polls.
    var checkouts: [(key: String, player: Int, body: [UInt8])] = []
    var checkoutOrders: [(id: String, player: Int)] = []

    public private(set) var ledger = LoadLedger()

    public init(scenario: Scenario, runID: String, sources: [LoadSource], orders: [SeededOrder], players: [Player], seed: UInt64) {
        self.scenario = scenario
        self.runID = runID
        self.runNumber = String(runID.unicodeScalars.reduce(UInt32(7)) { ($0 &* 31 &+ $1.value) % 90_000 } + 10_000)
        self.sources = sources
        self.orders = orders
        self.players = players
        self.mixTotal = scenario.mix.reduce(0) { $0 + $1.weight }
        self.random = SplitMix64(seed: seed)
        ledger.seededOrders = orders.map(\.id)
    }

    /// The next request at `elapsed` into the run.
    public mutating func next(at elapsed: Duration, now: Date) -> PlannedRequest {
        counter += 1
        var pick = Int(random.next() % UInt64(max(1, mixTotal)))
        var kind = scenario.mix.first!.kind
        for item in scenario.mix {
            if pick < item.weight { kind = item.kind; break }
            pick -= item.weight
        }
        switch kind {
        case .webhook: return genuine(now: now, elapsed: elapsed)
        case .duplicate: return duplicate(now: now, elapsed: elapsed)
        case .forged: return forged(now: now)
        case .stale: return stale(now: now)
        case .outOfOrder: return outOfOrder(now: now, elapsed: elapsed)
        case .checkout: return checkout()
        case .checkoutRetry: return checkoutRetry()
        case .status: return status()
        }
    }

    // MARK: - Webhooks

    func eventID(for provider: Provider) -> String {
        provider.eventIDsAreDigits ? "\(runNumber)\(String(format: "%09d", counter))" : "evt_\(runID)_\(counter)"
    }


    func callback(_ kind: PaymentEventKind, order: Int, amount: Int64? = nil, now: Date) -> (ProviderCallback, Int) {
        let source = order % max(1, sources.count)
        let seeded = orders[order]
        let callback = ProviderCallback(kind: kind, orderID: seeded.id, eventID: eventID(for: sources[source].provider),
                                        paymentID: "pay_\(seeded.id)", amountMinor: amount ?? seeded.amountMinor,
                                        currency: seeded.currency, occurredAt: now)
        return (callback, source)
    }

    mutating func genuine(now: Date, elapsed: Duration) -> PlannedRequest {
        guard !orders.isEmpty else { return status() }
        let (callback, source): (ProviderCallback, Int)
        if nextUnpaid < orders.count {
            (callback, source) = self.callback(.paymentSucceeded, order: nextUnpaid, now: now)
            paid.append(nextUnpaid)
            nextUnpaid += 1
        } else {
            // Every order is paid: small partial refunds, which add up (cumulative refunds).
            (callback, source) = self.callback(.refundSucceeded, order: paid[Int(random.next() % UInt64(paid.count))], amount: 100, now: now)
        }
        return send(callback, source: source, kind: .webhook, elapsed: elapsed)
    }

    mutating func send(_ callback: ProviderCallback, source: Int, kind: RequestKind, elapsed: Duration) -> PlannedRequest {
        remember(callback, source: source, at: elapsed)
        let entry = sources[source]
        let id = callback.storedEventID(for: entry.provider)
        let key = LoadLedger.key(entry.name, id)
        if ledger.genuine[key] == nil { ledger.genuine[key] = false }
        return request(kind, callback, source: entry, signer: entry.signer, note: .genuineEvent(source: entry.name, storedID: id))
    }

    mutating func remember(_ callback: ProviderCallback, source: Int, at elapsed: Duration) {
        recent.append((callback, source, elapsed))
        if recent.count > 20_000 {
            recent.removeFirst(10_000)
        }
    }

    mutating func duplicate(now: Date, elapsed: Duration) -> PlannedRequest {
        // The newest event at least `duplicateDelay` old; before there is one, a genuine event.
        guard let index = recent.lastIndex(where: { elapsed - $0.2 >= scenario.duplicateDelay }) ?? (recent.isEmpty ? nil : 0) else {
            return genuine(now: now, elapsed: elapsed)
        }
        let pickIndex = Int(random.next() % UInt64(index + 1))
        var (callback, source, _) = recent[pickIndex]
        callback.occurredAt = now  // providers sign each delivery anew
        let entry = sources[source]
        return request(.duplicate, callback, source: entry, signer: entry.signer,
                       note: .genuineEvent(source: entry.name, storedID: callback.storedEventID(for: entry.provider)))
    }

    mutating func forged(now: Date) -> PlannedRequest {
        guard !orders.isEmpty else { return status() }
        var (callback, source) = self.callback(.paymentSucceeded, order: Int(random.next() % UInt64(orders.count)), now: now)
        // A payment id of its own: Adyen identifies a payment event by it, and a forgery must not
        // share an id with the genuine payment (the verifier would be checking the wrong event).
        callback.paymentID = "pay_forged_\(counter)"
        let entry = sources[source]
        let id = callback.storedEventID(for: entry.provider)
        ledger.forged.insert(LoadLedger.key(entry.name, id))
        return request(.forged, callback, source: entry, signer: entry.forger, note: .forgedEvent(source: entry.name, storedID: id))
    }

    mutating func stale(now: Date) -> PlannedRequest {
        guard !orders.isEmpty, let source = sources.firstIndex(where: \.signsTimestamp) else { return forged(now: now) }
        let order = Int(random.next() % UInt64(orders.count))
        var (callback, _) = self.callback(.paymentSucceeded, order: order, now: now.addingTimeInterval(-3600))
        callback.paymentID = "pay_stale_\(counter)"
        let entry = sources[source]
        let id = callback.storedEventID(for: entry.provider)
        ledger.forged.insert(LoadLedger.key(entry.name, id))
        return request(.stale, callback, source: entry, signer: entry.signer, note: .forgedEvent(source: entry.name, storedID: id))
    }

    /// A refund for an order whose payment has not been sent yet: the edge must defer it and apply
    /// it after the payment (which a later `webhook` request sends).
    mutating func outOfOrder(now: Date, elapsed: Duration) -> PlannedRequest {
        guard orders.count - nextUnpaid > 1 else { return genuine(now: now, elapsed: elapsed) }
        let order = orders.count - 1 - Int(random.next() % UInt64(min(orders.count - nextUnpaid - 1, 1000)))
        let (callback, source) = self.callback(.refundSucceeded, order: order, amount: 100, now: now)
        return send(callback, source: source, kind: .outOfOrder, elapsed: elapsed)
    }

    func request(_ kind: RequestKind, _ callback: ProviderCallback, source: LoadSource, signer: WebhookSigner, note: LedgerNote) -> PlannedRequest {
        let signed = callback.signed(by: signer)!
        return PlannedRequest(kind: kind, method: "POST", path: "/v1/webhooks/\(scenario.tenant)/\(source.name)",
                              headers: signed.headers, body: signed.body, note: note)
    }

    // MARK: - Checkout

    mutating func checkout() -> PlannedRequest {
        guard !players.isEmpty else { return status() }
        let player = Int(random.next() % UInt64(players.count))
        let key = "lt-\(runID)-\(counter)"
        let quantity = 1 + Int(random.next() % 3)
        let body = Array(#"{"player_id":"\#(players[player].id)","items":[{"sku":"gems_500","quantity":\#(quantity),"unit_amount_minor":499}],"currency":"USD","return_url":"https://hub.demo.localhost/done"}"#.utf8)
        checkouts.append((key, player, body))
        if checkouts.count > 20_000 { checkouts.removeFirst(10_000) }
        ledger.checkoutKeys[key] = ledger.checkoutKeys[key] ?? []
        return checkoutRequest(.checkout, key: key, player: player, body: body)
    }

    mutating func checkoutRetry() -> PlannedRequest {
        guard !checkouts.isEmpty else { return checkout() }
        let (key, player, body) = checkouts[Int(random.next() % UInt64(checkouts.count))]
        return checkoutRequest(.checkoutRetry, key: key, player: player, body: body)
    }

    func checkoutRequest(_ kind: RequestKind, key: String, player: Int, body: [UInt8]) -> PlannedRequest {
        PlannedRequest(kind: kind, method: "POST", path: "/v1/checkout/\(scenario.tenant)/orders",
                       headers: [("Authorization", "Bearer \(players[player].token)"), ("Idempotency-Key", key), ("Content-Type", "application/json")],
                       body: body, note: .checkout(key: key, player: players[player].id))
    }

    mutating func status() -> PlannedRequest {
        let (order, player) = checkoutOrders.isEmpty ? ("ord_none", 0) : checkoutOrders[Int(random.next() % UInt64(checkoutOrders.count))]
        let token = players.isEmpty ? "" : players[player].token
        return PlannedRequest(kind: .status, method: "GET", path: "/v1/checkout/\(scenario.tenant)/orders/\(order)",
                              headers: [("Authorization", "Bearer \(token)")], body: [], note: .none)
    }

    // MARK: - Answers

    /// Notes how a request was answered (status 0: no answer).
    public mutating func answered(_ request: PlannedRequest, status: Int, body: [UInt8]) {
        let acknowledged = (200..<300).contains(status)
        switch request.note {
        case .genuineEvent(let source, let id):
            let key = LoadLedger.key(source, id)
            ledger.genuine[key] = (ledger.genuine[key] ?? false) || acknowledged
        case .forgedEvent(let source, let id):
            if acknowledged { ledger.forgedAcknowledged.insert(LoadLedger.key(source, id)) }
        case .checkout(let key, let player):
            guard status == 201 || status == 402,
                  let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
                  let order = object["order_id"] as? String
            else { return }
            if ledger.checkoutKeys[key, default: []].insert(order).inserted, status == 201,
               let index = players.firstIndex(where: { $0.id == player }) {
                checkoutOrders.append((order, index))
            }
        case .none:
            break
        }
    }
}

/// What the generator sent and what came back: the other half of `--verify`.
public struct LoadLedger: Sendable, Codable {
    /// Genuine events by "source|stored id": true once any send was answered 2xx.
    public var genuine: [String: Bool] = [:]
    /// Forged and stale events by "source|stored id": none may ever be stored.
    public var forged: Set<String> = []
    /// Forged or stale events the edge acknowledged (must be empty).
    public var forgedAcknowledged: Set<String> = []
    /// Orders each checkout key was answered with (at most one each).
    public var checkoutKeys: [String: Set<String>] = [:]
    public var seededOrders: [String] = []

    public init() {}

    static func key(_ source: String, _ id: String) -> String { "\(source)|\(id)" }

    /// Every order the run may have touched.
    public var orderIDs: [String] { seededOrders + checkoutKeys.values.flatMap { $0 } }
}
