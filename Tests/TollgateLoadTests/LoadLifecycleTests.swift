import Foundation
import Testing
import TollgateCore
@testable import TollgateLoad
import TollgateOrders
import TollgateSignatures

/// The generator's money-back traffic (refunds, totals, failures, disputes in their providers'
/// real shapes) and the verifier's expectations about it agree with the domain: run through the
/// edge's own normalizers and write planner, in order or shuffled, every order ends exactly where
/// the ledger says it must.
@Suite struct LoadLifecycleTests {
    static let secrets: [(String, String)] = [
        ("stripe", "whsec_plan_test"), ("standard", "whsec_cGxhbi10ZXN0LWtleQ=="),
        ("adyen", "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"), ("paddle", "pdl_plan"),
        ("xsolla", "xsolla-plan"), ("checkout", "cko-plan"),
    ]
    static func provider(_ source: String) -> Provider { Provider(rawValue: source == "standard" ? "standard-webhooks" : source)! }

    /// Apple signs with a development chain: its callbacks carry the refund as a share of the transaction.
    static let apple: LoadSource = {
        let identity: AppleSigningIdentity
        do { identity = try AppleSigningIdentity.development() } catch { preconditionFailure("a development chain: \(error)") }
        return LoadSource(name: "apple", signer: WebhookSigner(apple: identity, bundleID: "com.example", environment: .sandbox),
                          forger: WebhookSigner(apple: nil, bundleID: "com.example", environment: .sandbox))
    }()

    struct Run {
        var plan: LoadPlan
        /// Normalized events of every request, in sending order.
        var events: [PaymentEvent]
        var orders: [String]
    }

    /// `count` requests of webhooks, out-of-order refunds and duplicates over 60 orders, all acknowledged.
    static func run(count: Int, seed: UInt64) throws -> Run {
        var scenario = Scenario(name: "lifecycle")
        scenario.mix = [.init(kind: .webhook, weight: 8), .init(kind: .outOfOrder, weight: 1), .init(kind: .duplicate, weight: 2)]
        scenario.duplicateDelay = .zero
        let sources = secrets.map { LoadSource(name: $0.0, provider: provider($0.0), secret: Secret($0.1)) } + [apple]
        let orders = (0..<60).map { LoadPlan.SeededOrder(id: "o\($0)", amountMinor: 1999, currency: "USD") }
        var plan = LoadPlan(scenario: scenario, runID: "lc1", sources: sources, orders: orders, players: [], seed: seed)
        var events: [PaymentEvent] = []
        for index in 0..<count {
            let request = plan.next(at: .milliseconds(index * 10), now: Date())
            guard case .genuineEvent = request.note else { continue }
            let source = String(request.path.split(separator: "/").last!)
            let headers = Dictionary(request.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
            events += try PaymentEventNormalizer(tenant: "t", source: source, provider: provider(source)).normalize(headers: headers, body: request.body)
            plan.answered(request, status: 200, body: [])
        }
        return Run(plan: plan, events: events, orders: orders.map(\.id))
    }

    /// The orders after the edge's planner has taken `events` in one go.
    static func settle(_ events: [PaymentEvent], orders: [String]) -> [String: OrderState] {
        let initial = Dictionary(uniqueKeysWithValues: orders.map {
            (OrderKey(tenant: "t", orderID: $0), OrderState(status: .pendingPayment, amountMinor: 1999, currency: "USD"))
        })
        let plan = WritePlanner.plan(events: events, orders: initial)
        return Dictionary(uniqueKeysWithValues: initial.merging(plan.orders) { $1 }.map { ($0.key.orderID, $0.value) })
    }

    @Test(arguments: [1 as UInt64, 7, 42])
    func everyOrderEndsWhereTheLedgerSays(seed: UInt64) throws {
        let run = try Self.run(count: 1500, seed: seed)
        let ledger = run.plan.ledger
        #expect(run.events.allSatisfy { $0.understood })
        #expect(Set(run.events.map(\.kind)).isSuperset(of: [.paymentSucceeded, .refundSucceeded, .refundFailed, .disputeOpened,
                                                             .disputeFundsWithdrawn, .disputeWon, .disputeLost]))
        #expect(run.events.contains { $0.facts.refundIsCumulative }, "Stripe and Xsolla report refunded totals")
        #expect(run.events.contains { $0.kind == .refundSucceeded && $0.orderID == nil }, "refunds that name no order, as Stripe's and Paddle's")
        #expect(!ledger.disputes.isEmpty && ledger.disputes.values.contains { $0.won } && ledger.disputes.values.contains { !$0.won })

        var random = SplitMix64(seed: seed)
        let shuffled = run.events.shuffled(using: &random)
        for events in [run.events, shuffled] {
            let orders = Self.settle(events, orders: run.orders)
            for order in run.orders {
                let state = try #require(orders[order])
                let (lower, upper) = ledger.refundBounds(order: order, stored: { _ in true })
                guard ledger.payments[order] != nil else {
                    // Its refunds went out before its payment, which the run did not reach: they wait.
                    #expect(state.status == .pendingPayment && state.refundedMinor == 0 && lower == 0)
                    continue
                }
                #expect(lower == upper, "every event was acknowledged: \(order)")
                #expect(state.refundedMinor == upper, "\(order): \(state.refundedMinor) refunded, \(upper) sent")
                #expect(state.status != .needsReview, "\(order): \(state.reviewReasons)")
                if let dispute = ledger.disputes[order] {
                    if dispute.won { #expect(![.disputed, .chargedBack].contains(state.status), "\(order): won, \(state.status)") }
                    else { #expect(state.status == .chargedBack, "\(order): lost, \(state.status)") }
                }
            }
            let verdict = LoadVerifier.refundsCountedOnce(ledger, orders: orders.mapValues { ($0.status.rawValue, $0.refundedMinor) }, stored: { _ in true })
            #expect(verdict.passed, "\(verdict.detail)")
            #expect(LoadVerifier.disputeOutcomesKept(ledger, orders: orders.mapValues { ($0.status.rawValue, $0.refundedMinor) }).passed)
        }
    }

    /// Long enough for every order to be paid and then refunded in full or disputed: the plan
    /// never refunds more than was paid and, with nothing left to send, polls instead.
    @Test func aLongRunNeverRefundsMoreThanWasPaid() throws {
        let run = try Self.run(count: 8000, seed: 99)
        let orders = Self.settle(run.events, orders: run.orders)
        #expect(run.plan.ledger.payments.count == run.orders.count)
        for order in run.orders {
            let state = try #require(orders[order])
            #expect(state.refundedMinor <= state.amountMinor && state.status != .needsReview, "\(order): \(state)")
            #expect([.refunded, .chargedBack, .paid, .partiallyRefunded].contains(state.status), "\(order): \(state.status)")
        }
        #expect(orders.values.filter { $0.status == .refunded }.count > run.orders.count / 2)
    }

    @Test func refundBoundsCountEachRefundOnce() {
        var ledger = LoadLedger()
        ledger.genuine = ["a|pay": true, "a|r1": true, "a|r2": false, "a|t2": true, "a|r3": true, "a|f3": true]
        ledger.payments["o"] = "a|pay"
        ledger.refunds["o"] = LoadLedger.OrderRefunds(
            refunds: [.init(id: "r1", amountMinor: 100, reports: ["a|r1"]), .init(id: "r2", amountMinor: 200, reports: ["a|r2"]),
                      .init(id: "r3", amountMinor: 50, reports: ["a|r3"], failures: ["a|f3"])],
            totals: [.init(key: "a|t2", totalMinor: 300, covers: ["r1", "r2"])])
        // r2 is known only through the acknowledged total; r3 failed. A total cannot say which
        // refunds it includes, so the edge weighs it less every failure it knows (300 - 50): the floor.
        #expect(ledger.refundBounds(order: "o", stored: { _ in false }) == (250, 300))
        ledger.genuine["a|t2"] = false
        #expect(ledger.refundBounds(order: "o", stored: { _ in false }) == (100, 100))
        #expect(ledger.refundBounds(order: "o", stored: { $0 == "a|r2" }) == (100, 300), "stored without an answer: it may count")
        ledger.genuine["a|pay"] = false
        #expect(ledger.refundBounds(order: "o", stored: { _ in false }).lower == 0, "money back waits for the payment")
    }

    /// Seen in a mixed run: r1 (100) succeeded and then failed, r2 (1799) succeeded, and a
    /// cumulative total of 1899 covering both arrived after the failure. 1799 went back to the
    /// player, which is what the edge counts; the total does not raise the floor past that.
    @Test func aCumulativeTotalDoesNotCountARefundThatFailed() {
        var ledger = LoadLedger()
        ledger.genuine = ["a|pay": true, "a|r1": true, "a|f1": true, "a|r2": true, "a|t": true]
        ledger.payments["o"] = "a|pay"
        ledger.refunds["o"] = LoadLedger.OrderRefunds(
            refunds: [.init(id: "r1", amountMinor: 100, reports: ["a|r1"], failures: ["a|f1"]), .init(id: "r2", amountMinor: 1799, reports: ["a|r2"])],
            totals: [.init(key: "a|t", totalMinor: 1899, covers: ["r1", "r2"])])
        #expect(ledger.refundBounds(order: "o", stored: { _ in false }) == (1799, 1799))
    }

    @Test func legalityIsTheStateMachines() {
        let legal: [(String, String, String)] = [
            ("payment.succeeded", "pending_payment", "paid"), ("payment.succeeded", "failed", "paid"),
            ("payment.succeeded", "pending_payment", "needs_review"), ("payment.succeeded", "paid", "needs_review"),
            ("payment.succeeded", "canceled", "needs_review"), ("payment.failed", "pending_payment", "failed"),
            ("refund.succeeded", "paid", "partially_refunded"), ("refund.succeeded", "paid", "refunded"),
            ("refund.succeeded", "partially_refunded", "partially_refunded"), ("refund.succeeded", "paid", "needs_review"),
            ("refund.succeeded", "fulfilled", "refunded"), ("refund.failed", "partially_refunded", "paid"), ("refund.failed", "refunded", "paid"),
            ("refund.failed", "refunded", "partially_refunded"),
            ("dispute.opened", "paid", "disputed"), ("dispute.funds_withdrawn", "disputed", "charged_back"),
            ("dispute.lost", "disputed", "charged_back"), ("dispute.won", "charged_back", "paid"), ("dispute.won", "disputed", "paid"),
            ("dispute.lost", "paid", "needs_review"), ("refund.succeeded", "needs_review", "needs_review"),
        ]
        for (kind, from, to) in legal { #expect(LoadVerifier.isLegal(kind: kind, from: from, to: to), "\(kind) \(from) -> \(to)") }
        let illegal: [(String, String, String)] = [
            ("refund.succeeded", "pending_payment", "refunded"), ("payment.succeeded", "paid", "paid"), ("payment.succeeded", "canceled", "paid"),
            ("payment.canceled", "paid", "canceled"), ("dispute.lost", "paid", "pending_payment"),
            ("refund.succeeded", "paid", "failed"), ("dispute.opened", "pending_payment", "disputed"), ("refund.failed", "created", "paid"),
            ("other", "paid", "refunded"),
        ]
        for (kind, from, to) in illegal { #expect(!LoadVerifier.isLegal(kind: kind, from: from, to: to), "\(kind) \(from) -> \(to)") }
    }

    /// Random walks through the state machine (random refund ids, amounts, totals, failures,
    /// dispute stages and outcomes for one dispute per payment) never make a move the verifier
    /// would call illegal: its table is complete for what the generator can send.
    @Test func randomWalksOnlyMakeLegalMoves() {
        var random = SplitMix64(seed: 2026)
        let kinds: [PaymentEventKind] = [.paymentAuthorized, .paymentSucceeded, .paymentFailed, .paymentCanceled, .checkoutExpired, .refundSucceeded,
                                         .refundFailed, .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost]
        var unknown: Set<String> = []
        for _ in 0..<20_000 {
            var state = OrderState(status: random.next() % 2 == 0 ? .pendingPayment : .created, amountMinor: 1999, currency: "USD")
            for _ in 0..<10 {
                let kind = kinds[Int(random.next() % UInt64(kinds.count))]
                let amounts: [Int64] = [100, 500, 1000, 1899, 1999, 2500]
                let event = OrderEvent(
                    kind: kind, amountMinor: kind == .checkoutExpired ? nil : amounts[Int(random.next() % 6)],
                    currency: random.next() % 20 == 0 ? "EUR" : "USD",
                    facts: EventFacts(paymentReference: random.next() % 10 == 0 ? "pay_2" : "pay_1", refundID: "re_\(random.next() % 4)",
                                      refundIsCumulative: random.next() % 3 == 0, disputeID: "dp_1",
                                      // Only an outcome is ever final (second chargeback, pre-arbitration).
                                      disputeStage: [.disputeWon, .disputeLost].contains(kind) && random.next() % 6 == 0 ? 4 : nil))
                guard case .applied(let next) = OrderStateMachine.apply(event, to: state) else { continue }
                if !LoadVerifier.isLegal(kind: kind.rawValue, from: state.status.rawValue, to: next.status.rawValue) {
                    unknown.insert("\(kind.rawValue) \(state.status.rawValue) -> \(next.status.rawValue)")
                }
                state = next
            }
        }
        #expect(unknown.isEmpty, "\(unknown.sorted())")
    }
}
