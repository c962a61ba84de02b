import Foundation
import TollgateCore
import TollgateOrders
import TollgateProviderEvents
import TollgateSignatures

/// A webhook source the generator signs for, as the tenant's configuration describes it.
public struct LoadSource: Sendable {
    public var name: String
    /// The provider account the source receives for (its name unless configured): the edge
    /// deduplicates per account, so the ledger keys events by it.
    public var account: String
    public var provider: Provider
    public var signer: WebhookSigner
    /// A signer with a secret the edge does not know: forgeries.
    public var forger: WebhookSigner
    /// Whether the provider signs a timestamp (only then can a capture be stale).
    public var signsTimestamp: Bool

    public init(name: String, provider: Provider, secret: Secret, authorization: Secret? = nil, account: String? = nil) {
        self.init(name: name, signer: WebhookSigner(provider: provider, secret: secret, authorization: authorization),
                  forger: WebhookSigner(provider: provider, secret: provider.forgerSecret, authorization: authorization), account: account)
    }

    /// A source whose signers are made elsewhere (Apple's signing identity and a chain it does not trust).
    public init(name: String, signer: WebhookSigner, forger: WebhookSigner, account: String? = nil) {
        self.name = name
        self.account = account ?? name
        self.provider = signer.provider
        self.signer = signer
        self.forger = forger
        self.signsTimestamp = signer.provider.signsTimestamp
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
    /// A callback still to be signed (then `headers` and `body` are empty): signing (RSA for
    /// PayPal and Google, ES256 for Apple) is the costly part of a request, so the runner signs
    /// outside the lock that guards the plan (``signed()``).
    var unsigned: (callback: ProviderCallback, signer: WebhookSigner)?

    /// This request with its callback signed: what goes on the wire.
    public func signed() -> PlannedRequest {
        guard let unsigned else { return self }
        let signed = unsigned.callback.signed(by: unsigned.signer)!
        var request = self
        request.headers = signed.headers
        request.body = signed.body
        request.unsigned = nil
        return request
    }
}

public enum LedgerNote: Sendable {
    /// `account` is the source's provider account: the edge's dedup scope.
    case genuineEvent(account: String, storedID: String)
    case forgedEvent(account: String, storedID: String)
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
    /// Indices of the sources that pay, refund and dispute the seeded orders, and of the Google
    /// Play ones: Play names only its purchase (a token), never our order or a price, so its
    /// pushes are a stream of their own, kept by the edge until an order claims the purchase.
    let orderSources: [Int]
    let pushSources: [Int]
    let orders: [SeededOrder]
    let players: [Player]
    let mixTotal: Int
    var random: SplitMix64
    var counter = 0
    /// Provider event ids made so far (one request may make several: a refund and its follow-up).
    var eventSerial = 0
    /// Google Play purchases reported so far (their tokens are `gp_<run>_<n>`).
    var googlePlayPurchases = 0
    /// Next seeded order whose payment has not been sent.
    var nextUnpaid = 0
    /// Genuine slots that found no seeded order to pay or refund (``moneyExhausted(now:elapsed:)``):
    /// more than none means the run needed more `--orders`.
    public private(set) var slotsWithoutMoney = 0
    var paid: [Int] = []
    /// What was sent after each order's payment (refunds, its dispute), by seeded order index.
    var money: [Int: OrderMoney] = [:]
    /// Events that follow one already sent, as the provider sends them: Stripe's charge.refunded
    /// after a refund, a refund's failure, a dispute's later stages. The next `webhook` requests
    /// send them first, so they are in flight together and may arrive in any order.
    var followUps: [(ProviderCallback, Int)] = []
    /// Recently sent genuine events, for duplicates: (callback, source index, sent at).
    var recent: [(ProviderCallback, Int, Duration)] = []
    /// Checkout bodies sent, for retries; order ids answered, for polls.
    var checkouts: [(key: String, player: Int, body: [UInt8])] = []
    var checkoutOrders: [(id: String, player: Int)] = []

    public private(set) var ledger = LoadLedger()

    /// What checkout requests buy (nil: checkout requests are status polls instead).
    let products: LoadProducts?

    public init(scenario: Scenario, runID: String, sources: [LoadSource], orders: [SeededOrder], players: [Player], seed: UInt64,
                products: LoadProducts? = nil) {
        self.scenario = scenario
        self.runID = runID
        self.products = products
        self.runNumber = String(runID.unicodeScalars.reduce(UInt32(7)) { ($0 &* 31 &+ $1.value) % 90_000 } + 10_000)
        self.sources = sources
        self.orderSources = sources.indices.filter { sources[$0].provider != .googlePlay }
        self.pushSources = sources.indices.filter { sources[$0].provider == .googlePlay }
        self.orders = orders
        self.players = players
        self.mixTotal = scenario.mix.reduce(0) { $0 + $1.weight }
        self.random = SplitMix64(seed: seed)
        ledger.seededOrders = orders.map(\.id)
    }

    /// The next request at `elapsed` into the run.
    public mutating func next(at elapsed: Duration, now: Date) -> PlannedRequest {
        draft(at: elapsed, now: now).signed()
    }

    /// The next request, its callback not yet signed (``PlannedRequest/signed()``): the decision
    /// and the ledger entry are made here, the signature by the caller.
    public mutating func draft(at elapsed: Duration, now: Date) -> PlannedRequest {
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

    /// What the generator did to one order after (or, out of order, before) its payment.
    struct OrderMoney: Sendable {
        /// Refunded so far, counting refunds that are to fail: never above the order's amount, so
        /// no refund the generator sends is one a provider would refuse.
        var issued: Int64 = 0
        /// Refunded by refunds that stand: what a refunded-total report says.
        var standing: Int64 = 0
        /// Xsolla: its partial_refund is identified by the payment's transaction, so one per order.
        /// Apple: a REFUND states the share of the transaction refunded so far, so one per order.
        var partialRefundSent = false
        var disputed = false
    }

    mutating func eventID(for provider: Provider) -> String {
        eventSerial += 1
        return provider.eventIDsAreDigits ? "\(runNumber)\(String(format: "%09d", eventSerial))" : "evt_\(runID)_\(eventSerial)"
    }

    /// The order's payment id: Xsolla's is a transaction id (digits, one longer than the event
    /// ids so the two never meet), which its refunds carry too.
    func paymentID(order: Int, provider: Provider) -> String {
        provider.eventIDsAreDigits ? "\(runNumber)0\(String(format: "%09d", order))" : "pay_\(orders[order].id)"
    }

    /// The source that pays `order` (only called when there is one: see `paysOrders`).
    func sourceIndex(of order: Int) -> Int { orderSources[order % orderSources.count] }

    /// Whether orders can be paid: there are some, and a source that names them.
    var paysOrders: Bool { !orders.isEmpty && !orderSources.isEmpty }

    mutating func callback(_ kind: PaymentEventKind, order: Int, amount: Int64? = nil, now: Date) -> (ProviderCallback, Int) {
        let source = sourceIndex(of: order)
        let seeded = orders[order]
        let provider = sources[source].provider
        let callback = ProviderCallback(kind: kind, orderID: seeded.id, eventID: eventID(for: provider),
                                        paymentID: paymentID(order: order, provider: provider), amountMinor: amount ?? seeded.amountMinor,
                                        currency: seeded.currency, occurredAt: now, paymentAmountMinor: seeded.amountMinor)
        return (callback, source)
    }

    func key(_ callback: ProviderCallback, source: Int) -> String {
        LoadLedger.key(sources[source].account, callback.storedEventID(for: sources[source].provider))
    }

    /// A new genuine event: a follow-up if one is due, else the next order's payment or, on one
    /// webhook in three once orders are paid (and always once all are), money going back on a
    /// paid order: refunds in each provider's real shapes, or a dispute through its stages.
    mutating func genuine(now: Date, elapsed: Duration) -> PlannedRequest {
        if !followUps.isEmpty {
            var (callback, source) = followUps.removeFirst()
            callback.occurredAt = now
            return send(callback, source: source, kind: .webhook, elapsed: elapsed)
        }
        // Each source gets its share of new events: a Play source's are purchases of its own.
        if !pushSources.isEmpty, !paysOrders || random.next() % UInt64(sources.count) < UInt64(pushSources.count) {
            return googlePlayPurchase(now: now, elapsed: elapsed)
        }
        guard paysOrders else { return status() }
        let allPaid = nextUnpaid >= orders.count
        if !paid.isEmpty, allPaid || random.next() % 3 == 0, let request = moneyBack(now: now, elapsed: elapsed) { return request }
        guard !allPaid else { return moneyExhausted(now: now, elapsed: elapsed) }
        let order = nextUnpaid
        let (callback, source) = self.callback(.paymentSucceeded, order: order, now: now)
        ledger.payments[orders[order].id] = key(callback, source: source)
        paid.append(order)
        nextUnpaid += 1
        return send(callback, source: source, kind: .webhook, elapsed: elapsed)
    }

    /// A genuine slot when every seeded order is paid and the orders tried can take no more money
    /// back: a redelivery of a recent event (which providers keep sending), or a status read
    /// where the scenario has players. Never a request the scenario cannot authenticate: a status
    /// read without a player is a 401, and a 30-minute soak that outran its orders counted
    /// hundreds of them as errors. Counted in ``slotsWithoutMoney``.
    mutating func moneyExhausted(now: Date, elapsed: Duration) -> PlannedRequest {
        slotsWithoutMoney += 1
        return players.isEmpty && !recent.isEmpty ? duplicate(now: now, elapsed: elapsed) : status()
    }

    /// Money back on a paid order that can still take some; nil if the few orders tried cannot.
    mutating func moneyBack(now: Date, elapsed: Duration) -> PlannedRequest? {
        for _ in 0..<8 {
            let order = paid[Int(random.next() % UInt64(paid.count))]
            let state = money[order] ?? OrderMoney()
            let provider = sources[sourceIndex(of: order)].provider
            // An order's fate is decided at its first money back: one in five is disputed (and
            // then left to its dispute), the others are refunded, partially, until nothing is left.
            guard !state.disputed, canRefund(order) else { continue }
            if state.issued == 0, !Self.disputeStages(provider, won: false).isEmpty, random.next() % 5 == 0 {
                return dispute(order: order, now: now, elapsed: elapsed)
            }
            return refund(order: order, kind: .webhook, now: now, elapsed: elapsed)
        }
        return nil
    }

    /// One refund of `order` in its provider's shape: a partial one of 1.00 or the rest. Stripe
    /// reports it twice (refund.created with the refund id, then charge.refunded with the total);
    /// an Xsolla full refund is a total; one refund in eight is reported failed afterwards where
    /// the provider can say so. The ledger notes every report so that the verifier can tell a
    /// refund counted once from one counted twice.
    mutating func refund(order: Int, kind: RequestKind, now: Date, elapsed: Duration, partialOnly: Bool = false) -> PlannedRequest {
        let seeded = orders[order]
        let source = sourceIndex(of: order)
        let provider = sources[source].provider
        var state = money[order] ?? OrderMoney()
        let remaining = seeded.amountMinor - state.issued
        var amount = min(100, remaining)
        if !partialOnly, remaining > 100, random.next() % 4 == 0 { amount = remaining }
        var (callback, _) = self.callback(.refundSucceeded, order: order, amount: amount, now: now)
        if provider == .apple {
            // One refund per App Store transaction, stated as a share of the transaction's price.
            state.partialRefundSent = true
            callback.paymentAmountMinor = seeded.amountMinor
        } else if provider == .xsolla {
            // partial_refund once; after it, or for the rest, the full refund (the payment's total).
            if state.partialRefundSent || amount == remaining {
                amount = remaining
                callback.amountMinor = seeded.amountMinor
                callback.refundIsCumulative = true
            } else {
                state.partialRefundSent = true
            }
        }
        callback.refundID = callback.refundReference(for: provider)
        let fails = !callback.refundIsCumulative && ProviderCallback.kinds(for: provider).contains(.refundFailed) && random.next() % 8 == 0
        state.issued += amount
        if !fails { state.standing += amount }
        var record = LoadLedger.Refund(id: callback.refundReference(for: provider), amountMinor: amount, reports: [key(callback, source: source)])
        var total: LoadLedger.RefundTotal?
        if callback.refundIsCumulative {
            total = LoadLedger.RefundTotal(key: key(callback, source: source), totalMinor: callback.amountMinor)
        }
        if fails {
            var failure = callback
            failure.kind = .refundFailed
            failure.eventID = eventID(for: provider)
            record.failures.append(key(failure, source: source))
            followUps.append((failure, source))
        } else if provider == .stripe {
            var reported = callback
            reported.eventID = eventID(for: provider)
            reported.refundIsCumulative = true
            reported.amountMinor = state.standing
            total = LoadLedger.RefundTotal(key: key(reported, source: source), totalMinor: state.standing)
            followUps.append((reported, source))
        }
        ledger.refunds[seeded.id, default: LoadLedger.OrderRefunds()].refunds.append(record)
        if var total {
            // A total covers every refund that stands so far, this one included.
            let refunds = ledger.refunds[seeded.id]!.refunds
            total.covers = refunds.filter { $0.failures.isEmpty }.map(\.id)
            ledger.refunds[seeded.id]!.totals.append(total)
        }
        money[order] = state
        return send(callback, source: source, kind: kind, elapsed: elapsed)
    }

    /// The stages of one dispute as `provider` reports them, ending won or lost; empty if the
    /// provider reports no disputes. Paddle has no "lost": its chargeback stands unless reversed.
    static func disputeStages(_ provider: Provider, won: Bool) -> [PaymentEventKind] {
        let outcome: PaymentEventKind = won ? .disputeWon : .disputeLost
        return switch provider {
        case .stripe, .adyen, .standardWebhooks: [.disputeOpened, .disputeFundsWithdrawn, outcome]
        case .checkout: [.disputeOpened, .disputeFundsWithdrawn, outcome]
        // CUSTOMER.DISPUTE.CREATED, PAYMENT.CAPTURE.REVERSED, then RESOLVED either way.
        case .paypal: [.disputeOpened, .disputeFundsWithdrawn, outcome]
        case .paddle: won ? [.disputeOpened, .disputeFundsWithdrawn, .disputeWon] : [.disputeOpened, .disputeFundsWithdrawn]
        case .xsolla, .apple, .googlePlay: []
        }
    }

    /// A dispute of `order`: its first stage now, the others as follow-ups (one dispute id, so
    /// the edge sees one dispute however the stages arrive).
    mutating func dispute(order: Int, now: Date, elapsed: Duration) -> PlannedRequest {
        let source = sourceIndex(of: order)
        let provider = sources[source].provider
        let stages = Self.disputeStages(provider, won: random.next() % 2 == 0)
        money[order, default: OrderMoney()].disputed = true
        let callbacks = stages.map { self.callback($0, order: order, now: now).0 }
        ledger.disputes[orders[order].id] = LoadLedger.Dispute(
            won: stages.last == .disputeWon, outcomeReports: [key(callbacks.last!, source: source)], reports: callbacks.map { key($0, source: source) })
        followUps.append(contentsOf: callbacks.dropFirst().map { ($0, source) })
        return send(callbacks[0], source: source, kind: .webhook, elapsed: elapsed)
    }

    mutating func send(_ callback: ProviderCallback, source: Int, kind: RequestKind, elapsed: Duration) -> PlannedRequest {
        remember(callback, source: source, at: elapsed)
        let entry = sources[source]
        let id = callback.storedEventID(for: entry.provider)
        let key = LoadLedger.key(entry.account, id)
        if ledger.genuine[key] == nil { ledger.genuine[key] = false }
        return request(kind, callback, source: entry, signer: entry.signer, note: .genuineEvent(account: entry.account, storedID: id))
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
                       note: .genuineEvent(account: entry.account, storedID: callback.storedEventID(for: entry.provider)))
    }

    /// A Google Play purchase (a one-time product bought), and for one in four its voiding (Play's
    /// refund) as a follow-up: both name only the purchase token, which no seeded order carries.
    mutating func googlePlayPurchase(now: Date, elapsed: Duration) -> PlannedRequest {
        let source = pushSources[Int(random.next() % UInt64(pushSources.count))]
        googlePlayPurchases += 1
        var purchase = ProviderCallback(kind: .paymentSucceeded, orderID: "", eventID: eventID(for: .googlePlay),
                                        paymentID: "gp_\(runID)_\(googlePlayPurchases)", amountMinor: 0, currency: "USD", occurredAt: now)
        if random.next() % 4 == 0 {
            var voided = purchase
            voided.kind = .refundSucceeded
            voided.eventID = eventID(for: .googlePlay)
            followUps.append((voided, source))
        }
        purchase.occurredAt = now
        return send(purchase, source: source, kind: .webhook, elapsed: elapsed)
    }

    mutating func forged(now: Date) -> PlannedRequest {
        // Forgeries go to every source in turn, a Play source's with a token Google did not sign.
        let target = sources.isEmpty ? nil : Int(random.next() % UInt64(sources.count))
        if let target, sources[target].provider == .googlePlay {
            let callback = ProviderCallback(kind: .paymentSucceeded, orderID: "", eventID: "forged_\(runID)_\(counter)",
                                            paymentID: "gp_forged_\(counter)", amountMinor: 0, currency: "USD", occurredAt: now)
            let entry = sources[target]
            ledger.forged.insert(LoadLedger.key(entry.account, callback.eventID))
            return request(.forged, callback, source: entry, signer: entry.forger, note: .forgedEvent(account: entry.account, storedID: callback.eventID))
        }
        guard paysOrders else { return status() }
        var (callback, source) = self.callback(.paymentSucceeded, order: Int(random.next() % UInt64(orders.count)), now: now)
        // A payment id of its own: Adyen and Xsolla identify a payment event by it, and a forgery
        // must not share an id with the genuine payment (the verifier would check the wrong event).
        callback.paymentID = "pay_forged_\(counter)"
        let entry = sources[source]
        let id = callback.storedEventID(for: entry.provider)
        ledger.forged.insert(LoadLedger.key(entry.account, id))
        return request(.forged, callback, source: entry, signer: entry.forger, note: .forgedEvent(account: entry.account, storedID: id))
    }

    mutating func stale(now: Date) -> PlannedRequest {
        guard paysOrders, let source = sources.firstIndex(where: \.signsTimestamp) else { return forged(now: now) }
        let order = Int(random.next() % UInt64(orders.count))
        var (callback, _) = self.callback(.paymentSucceeded, order: order, now: now.addingTimeInterval(-3600))
        callback.paymentID = "pay_stale_\(counter)"
        let entry = sources[source]
        let id = callback.storedEventID(for: entry.provider)
        ledger.forged.insert(LoadLedger.key(entry.account, id))
        return request(.stale, callback, source: entry, signer: entry.signer, note: .forgedEvent(account: entry.account, storedID: id))
    }

    /// Whether `order` can take another refund (`partialOnly`: a partial one): money is left, and
    /// its provider can say so (Xsolla sends one partial refund, then the full one; Apple one refund).
    func canRefund(_ order: Int, partialOnly: Bool = false) -> Bool {
        let state = money[order] ?? OrderMoney()
        guard state.issued < orders[order].amountMinor else { return false }
        return switch sources[sourceIndex(of: order)].provider {
        case .apple: !state.partialRefundSent
        // Play's pushes never pay a seeded order (`orderSources` leaves them out).
        case .googlePlay: false
        case .xsolla: !(partialOnly && state.partialRefundSent)
        default: true
        }
    }

    /// A refund for an order whose payment is among the next few to be sent: the edge must keep
    /// it (waiting for the payment that links it to its order, where the provider names none) and
    /// apply it once a later `webhook` request has sent the payment.
    mutating func outOfOrder(now: Date, elapsed: Duration) -> PlannedRequest {
        let unpaid = orders.count - nextUnpaid
        guard paysOrders, unpaid > 1 else { return genuine(now: now, elapsed: elapsed) }
        let order = nextUnpaid + 1 + Int(random.next() % UInt64(min(unpaid - 1, 50)))
        guard canRefund(order, partialOnly: true) else { return genuine(now: now, elapsed: elapsed) }
        return refund(order: order, kind: .outOfOrder, now: now, elapsed: elapsed, partialOnly: true)
    }

    func request(_ kind: RequestKind, _ callback: ProviderCallback, source: LoadSource, signer: WebhookSigner, note: LedgerNote) -> PlannedRequest {
        PlannedRequest(kind: kind, method: "POST", path: "/v1/webhooks/\(scenario.tenant)/\(source.name)",
                       headers: [], body: [], note: note, unsigned: (callback, signer))
    }

    // MARK: - Checkout

    /// A new order from the catalog: one to three distinct SKUs picked by the seeded random, one
    /// to three of each (never above an item's `max_quantity`, nor the total above the tenant's
    /// ceiling), each with the unit price the catalog gives as the price the page showed.
    mutating func checkout() -> PlannedRequest {
        guard !players.isEmpty, let products, !products.products.isEmpty else { return status() }
        let player = Int(random.next() % UInt64(players.count))
        let key = "lt-\(runID)-\(counter)"
        var pool = products.products
        let count = 1 + Int(random.next() % UInt64(min(3, pool.count)))
        var lines: [LoadLedger.CheckoutLine] = []
        var total: Int64 = 0
        for _ in 0..<count {
            let product = pool.remove(at: Int(random.next() % UInt64(pool.count)))
            let most = min(3, product.maximumQuantity, (products.maximumTotalMinor - total) / product.unitAmountMinor)
            guard most >= 1 else { continue }
            let quantity = 1 + Int64(random.next() % UInt64(most))
            total += quantity * product.unitAmountMinor
            lines.append(.init(sku: product.sku, quantity: quantity, shownUnitAmountMinor: product.unitAmountMinor))
        }
        let items = lines.map { #"{"sku":"\#($0.sku)","quantity":\#($0.quantity),"unit_amount_minor":\#($0.shownUnitAmountMinor)}"# }
        let country = products.country.map { #","country":"\#($0)""# } ?? ""
        let body = Array(#"{"player_id":"\#(players[player].id)","items":[\#(items.joined(separator: ","))],"currency":"\#(products.currency)"\#(country),"return_url":"https://hub.demo.localhost/done"}"#.utf8)
        checkouts.append((key, player, body))
        if checkouts.count > 20_000 { checkouts.removeFirst(10_000) }
        ledger.checkoutKeys[key] = ledger.checkoutKeys[key] ?? []
        ledger.checkoutRequests[key] = LoadLedger.CheckoutRequest(lines: lines, totalMinor: total)
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
        case .genuineEvent(let account, let id):
            let key = LoadLedger.key(account, id)
            ledger.genuine[key] = (ledger.genuine[key] ?? false) || acknowledged
        case .forgedEvent(let account, let id):
            if acknowledged { ledger.forgedAcknowledged.insert(LoadLedger.key(account, id)) }
        case .checkout(let key, let player):
            if (400..<500).contains(status), let problem = Self.problemType(body) { ledger.checkoutProblems[problem, default: 0] += 1 }
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

    /// The problem type of a refusal, without its `urn:tollgate:problem:` prefix.
    static func problemType(_ body: [UInt8]) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any], let type = object["type"] as? String else { return nil }
        let prefix = "urn:tollgate:problem:"
        return type.hasPrefix(prefix) ? String(type.dropFirst(prefix.count)) : type
    }
}

/// What the generator sent and what came back: the other half of `--verify`.
public struct LoadLedger: Sendable, Codable {
    /// Genuine events by "account|stored id" (the edge's dedup identity; a source's account is
    /// its name unless configured): true once any send was answered 2xx.
    public var genuine: [String: Bool] = [:]
    /// Forged and stale events by "account|stored id": none may ever be stored.
    public var forged: Set<String> = []
    /// Forged or stale events the edge acknowledged (must be empty).
    public var forgedAcknowledged: Set<String> = []
    /// Orders each checkout key was answered with (at most one each).
    public var checkoutKeys: [String: Set<String>] = [:]
    public var seededOrders: [String] = []
    /// Each seeded order's payment event (money back applies only once it has).
    public var payments: [String: String] = [:]
    /// The refunds the generator made, by order, with every report that carries them.
    public var refunds: [String: OrderRefunds] = [:]
    /// The dispute the generator opened, by order, and how it ends.
    public var disputes: [String: Dispute] = [:]
    /// What each checkout key asked for (a retry sends the same body).
    public var checkoutRequests: [String: CheckoutRequest] = [:]
    /// Checkout refusals by problem type (`price-changed`, `item-unavailable`, `too-many-requests`, ...).
    public var checkoutProblems: [String: Int] = [:]

    public init() {}

    /// One line of a checkout request: a SKU, a quantity and the unit price the "page" showed.
    public struct CheckoutLine: Sendable, Codable, Equatable {
        public var sku: String
        public var quantity: Int64
        public var shownUnitAmountMinor: Int64

        public init(sku: String, quantity: Int64, shownUnitAmountMinor: Int64) {
            self.sku = sku
            self.quantity = quantity
            self.shownUnitAmountMinor = shownUnitAmountMinor
        }
    }

    public struct CheckoutRequest: Sendable, Codable, Equatable {
        public var lines: [CheckoutLine]
        /// The total at the shown prices.
        public var totalMinor: Int64

        public init(lines: [CheckoutLine], totalMinor: Int64) {
            self.lines = lines
            self.totalMinor = totalMinor
        }
    }

    /// One refund, and the events that report it.
    public struct Refund: Sendable, Codable, Equatable {
        public var id: String
        public var amountMinor: Int64
        /// Events naming this refund alone (by its refund id).
        public var reports: [String]
        /// Events saying it did not happen after all (it must not count once one is stored).
        public var failures: [String]

        public init(id: String, amountMinor: Int64, reports: [String], failures: [String] = []) {
            self.id = id
            self.amountMinor = amountMinor
            self.reports = reports
            self.failures = failures
        }
    }

    /// An event reporting the payment's refunded total (Stripe charge.refunded, an Xsolla full
    /// refund): it covers the refunds standing when it was sent.
    public struct RefundTotal: Sendable, Codable, Equatable {
        public var key: String
        public var totalMinor: Int64
        /// Ids of the refunds this total includes.
        public var covers: [String]

        public init(key: String, totalMinor: Int64, covers: [String] = []) {
            self.key = key
            self.totalMinor = totalMinor
            self.covers = covers
        }
    }

    public struct OrderRefunds: Sendable, Codable, Equatable {
        public var refunds: [Refund] = []
        public var totals: [RefundTotal] = []

        public init(refunds: [Refund] = [], totals: [RefundTotal] = []) {
            self.refunds = refunds
            self.totals = totals
        }
    }

    public struct Dispute: Sendable, Codable, Equatable {
        /// The outcome the generator decided (one per dispute: won or lost, never both).
        public var won: Bool
        /// The events reporting that outcome.
        public var outcomeReports: [String]
        /// Every stage's event.
        public var reports: [String]

        public init(won: Bool, outcomeReports: [String], reports: [String]) {
            self.won = won
            self.outcomeReports = outcomeReports
            self.reports = reports
        }
    }

    /// The ledger key of an event: the edge's dedup identity, "account|stored id".
    public static func key(_ account: String, _ id: String) -> String { "\(account)|\(id)" }

    /// Every order the run may have touched.
    public var orderIDs: [String] { seededOrders + checkoutKeys.values.flatMap { $0 } }

    public func acknowledged(_ key: String) -> Bool { genuine[key] == true }

    /// What `order`'s refunded amount may be, given which of its events were acknowledged and
    /// which the edge stored (`stored`): each refund counted once, by its id or inside a total.
    ///
    /// At most (`upper`): the refunds any stored or acknowledged event reports, less those whose
    /// failure was acknowledged; one refund counted twice (by its id and again inside a total, or
    /// twice under two ids) exceeds it. At least (`lower`), once the order's payment was
    /// acknowledged: the refunds acknowledged by their id (less those whose failure the edge has),
    /// or the highest acknowledged total, whichever is more. When every event of the order was
    /// acknowledged the two are equal: the sum of its distinct refunds that stand.
    public func refundBounds(order: String, stored: (String) -> Bool) -> (lower: Int64, upper: Int64) {
        guard let record = refunds[order] else { return (0, 0) }
        func known(_ key: String) -> Bool { acknowledged(key) || stored(key) }
        var upper: Int64 = 0
        for refund in record.refunds where !refund.failures.contains(where: acknowledged) {
            let reported = refund.reports.contains(where: known) || record.totals.contains { $0.covers.contains(refund.id) && known($0.key) }
            if reported { upper += refund.amountMinor }
        }
        guard let payment = payments[order], acknowledged(payment) else { return (0, upper) }
        let byID = record.refunds.filter { $0.reports.contains(where: acknowledged) && !$0.failures.contains(where: known) }
            .reduce(Int64(0)) { $0 + $1.amountMinor }
        // A refund that failed gave its money back, even where a cumulative total reported before
        // the failure still includes it: the edge weighs the largest total less every known failure.
        let failed = record.refunds.filter { $0.failures.contains(where: known) }.reduce(Int64(0)) { $0 + $1.amountMinor }
        let total = record.totals.filter { acknowledged($0.key) }.map(\.totalMinor).max() ?? 0
        return (max(byID, max(0, total - failed)), upper)
    }
}
