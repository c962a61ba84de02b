import Foundation
import Testing
import TollgateCore
import TollgateOrders
import TollgateTestSupport

/// Whole lifecycles of one order, per provider, in the providers' real shapes (normalizer and
/// planner, no database; the same callbacks go through the running edge in
/// `ProviderLifecycleEdgeTests`).
@Suite struct ProviderLifecycleTests {
    static let order = OrderKey(tenant: "t", orderID: "ord_1")

    static func events(_ provider: Provider, _ callbacks: [LifecycleCallback], source: String? = nil, account: String? = nil) throws -> [[PaymentEvent]] {
        let normalizer = PaymentEventNormalizer(tenant: "t", source: source ?? provider.rawValue, account: account, provider: provider)
        return try callbacks.map { try normalizer.normalize(headers: $0.headers, body: $0.body) }
    }

    static func freshTables(amount: Int64 = ProviderLifecycle.amountMinor, currency: String = "USD") -> EventTables {
        var tables = EventTables()
        tables.create(order, OrderState(status: .pendingPayment, amountMinor: amount, currency: currency))
        return tables
    }

    /// Delivers each callback in its own commit and returns the order's status after each.
    static func deliver(_ deliveries: [[PaymentEvent]], to tables: inout EventTables) -> [OrderStatus] {
        deliveries.map { events in
            tables.write(tables.plan(events))
            return tables.orders[order]!.status
        }
    }

    @Test(arguments: ProviderLifecycle.providers)
    func theWholeLifeInOrder(provider: Provider) throws {
        let callbacks = try ProviderLifecycle.callbacks(provider, order: "ord_1", payment: "p1")
        var tables = Self.freshTables()
        let statuses = Self.deliver(try Self.events(provider, callbacks), to: &tables)
        #expect(statuses == callbacks.map(\.expected), "\(provider)")
        if callbacks.count == 5 { #expect(tables.orders[Self.order]?.reviewReasons == [.refundAndChargeback], "\(provider)") }
        #expect(tables.orders[Self.order]?.refundedMinor == ProviderLifecycle.amountMinor)
        #expect(tables.events.allSatisfy { $0.outcome == .applied }, "\(tables.events.map { "\($0.key.providerEventID): \($0.outcome) \($0.reason ?? "")" })")
    }

    /// Every permutation of four lifecycle events of one order (three for Xsolla) ends where the
    /// in-order delivery ends. The genuinely ambiguous orderings (a close before a payment) are in
    /// `aCloseAndAPaymentInEitherOrderEndPaidOrWithAHuman`.
    @Test(arguments: ProviderLifecycle.providers)
    func everyPermutationEndsInTheInOrderState(provider: Provider) throws {
        let callbacks = try ProviderLifecycle.callbacks(provider, order: "ord_1", payment: "p1")
        let events = try Self.events(provider, callbacks)
        let selections: [[Int]] = events.count == 3 ? [[0, 1, 2]] : [[0, 1, 2, 4], [0, 1, 3, 4], [0, 2, 3, 4]]
        var checked = 0
        for selection in selections {
            let chosen = selection.map { events[$0] }
            var inOrder = Self.freshTables()
            let expected = Self.deliver(chosen, to: &inOrder).last!
            for permutation in chosen.permutations() {
                var tables = Self.freshTables()
                let final = Self.deliver(permutation, to: &tables).last!
                #expect(final == expected, "\(provider) \(permutation.map { $0.map(\.providerEventID) })")
                #expect(tables.orders[Self.order]?.ledger == inOrder.orders[Self.order]?.ledger)
                #expect(!tables.events.contains { $0.outcome == .pending || $0.outcome == .deferred }, "nothing left waiting")
                checked += 1
            }
        }
        #expect(checked >= 6)
    }

    /// The one ordering that is genuinely ambiguous: a payment after its order was closed is
    /// money to hand back (needs_review, payment_after_close); a close after the payment is a stale
    /// event (ignored, the order stays paid).
    @Test func aCloseAndAPaymentInEitherOrderEndPaidOrWithAHuman() {
        let pay = PaymentEvent(tenant: "t", source: "s", provider: .stripe, providerEventID: "evt_pay", kind: .paymentSucceeded, orderID: "ord_1",
                               providerPaymentID: "pi_1", amountMinor: 2000, currency: "USD", rawBody: [])
        for close in [PaymentEventKind.paymentCanceled, .checkoutExpired] {
            let closing = PaymentEvent(tenant: "t", source: "s", provider: .stripe, providerEventID: "evt_close", kind: close, orderID: "ord_1", rawBody: [])
            var paidFirst = Self.freshTables()
            #expect(Self.deliver([[pay], [closing]], to: &paidFirst).last == .paid)
            var closedFirst = Self.freshTables()
            #expect(Self.deliver([[closing], [pay]], to: &closedFirst).last == .needsReview)
            #expect(closedFirst.orders[Self.order]?.reviewReasons == [.paymentAfterClose])
        }
    }
}

/// The seven defects issue 11 found, each with the provider's real payload where one exists.
/// Every test here failed on main before the lifecycle work.
@Suite struct LifecycleDefectTests {
    static func normalize(_ provider: Provider, _ object: [String: Any], headers: [String: String] = [:], account: String? = nil, source: String? = nil) throws -> [PaymentEvent] {
        let body = Array(try JSONSerialization.data(withJSONObject: object))
        return try PaymentEventNormalizer(tenant: "t", source: source ?? provider.rawValue, account: account, provider: provider).normalize(headers: headers, body: body)
    }

    static func pay(_ tables: inout EventTables, _ provider: Provider, _ object: [String: Any]) throws {
        tables.write(tables.plan(try normalize(provider, object)))
        #expect(tables.orders[ProviderLifecycleTests.order]?.status == .paid)
    }

    /// 1. An Xsolla refund carries the transaction id of the payment it cancels: it was answered as
    /// a duplicate and dropped.
    @Test func anXsollaRefundIsAppliedNotAcknowledgedAsADuplicate() throws {
        let callbacks = try ProviderLifecycle.callbacks(.xsolla, order: "ord_1", payment: "x1")
        var tables = ProviderLifecycleTests.freshTables()
        let results = try ProviderLifecycleTests.events(.xsolla, [callbacks[0], callbacks[2]]).map { events -> [CommitOutcome] in
            let plan = tables.plan(events)
            tables.write(plan)
            return plan.results
        }
        #expect(results == [[.recorded(.applied)], [.recorded(.applied)]])
        #expect(tables.orders[ProviderLifecycleTests.order]?.status == .refunded)
    }

    /// 2. Stripe's real charge.refunded (no refunds list, no metadata) and charge.dispute.created
    /// (charge and payment_intent only) reach the order through its payment.
    @Test func stripeRealRefundAndDisputeReachTheirOrderThroughThePayment() throws {
        let refund = try ProviderLifecycle.sample("stripe/charge.refunded.json")
        let refundCharge = (refund["data"] as! [String: Any])["object"] as! [String: Any]
        var tables = ProviderLifecycleTests.freshTables(amount: 3800, currency: "HKD")
        try Self.pay(&tables, .stripe, ["id": "evt_pay", "type": "payment_intent.succeeded", "data": ["object": [
            "id": refundCharge["payment_intent"]!, "amount_received": 3800, "currency": "hkd", "metadata": ["order_id": "ord_1"], "latest_charge": refundCharge["id"]!]]])
        tables.write(tables.plan(try Self.normalize(.stripe, refund)))
        #expect(tables.orders[ProviderLifecycleTests.order]?.status == .refunded)
        #expect(tables.orders[ProviderLifecycleTests.order]?.refundedMinor == 3800)

        let dispute = try ProviderLifecycle.sample("stripe/charge.dispute.created.json")
        let disputed = (dispute["data"] as! [String: Any])["object"] as! [String: Any]
        var second = ProviderLifecycleTests.freshTables(amount: 100, currency: "USD")
        try Self.pay(&second, .stripe, ["id": "evt_pay2", "type": "payment_intent.succeeded", "data": ["object": [
            "id": disputed["payment_intent"]!, "amount_received": 100, "currency": "usd", "metadata": ["order_id": "ord_1"]]]])
        second.write(second.plan(try Self.normalize(.stripe, dispute)))
        #expect(second.orders[ProviderLifecycleTests.order]?.status == .disputed)
    }

    /// 3. Adyen: a CHARGEBACK without notice charges back a paid order, its reversal returns it,
    /// the outcome in additionalData.disputeStatus counts, REFUND_FAILED takes a refund back.
    @Test func adyenChargebacksReversalsAndFailedRefundsApply() throws {
        let chargeback = try ProviderLifecycle.sample("adyen/CHARGEBACK.json")
        let item = ((chargeback["notificationItems"] as! [[String: Any]])[0]["NotificationRequestItem"] as! [String: Any])
        let payment = item["originalReference"] as! String
        func envelope(_ fields: [String: Any]) -> [String: Any] {
            ["live": "false", "notificationItems": [["NotificationRequestItem": fields]]]
        }
        var tables = ProviderLifecycleTests.freshTables(amount: 1000, currency: "EUR")
        try Self.pay(&tables, .adyen, envelope(["pspReference": payment, "eventCode": "AUTHORISATION", "success": "true", "merchantReference": "ord_1",
                                                "amount": ["value": 1000, "currency": "EUR"]]))
        tables.write(tables.plan(try Self.normalize(.adyen, chargeback)))
        #expect(tables.orders[ProviderLifecycleTests.order]?.status == .chargedBack)
        var reversal = try ProviderLifecycle.sample("adyen/CHARGEBACK_REVERSED.json")
        var reversed = (reversal["notificationItems"] as! [[String: Any]])[0]["NotificationRequestItem"] as! [String: Any]
        reversed["pspReference"] = item["pspReference"]  // the reversal names only the chargeback
        reversal["notificationItems"] = [["NotificationRequestItem": reversed]]
        tables.write(tables.plan(try Self.normalize(.adyen, reversal)))
        #expect(tables.orders[ProviderLifecycleTests.order]?.status == .paid)

        var lost = ProviderLifecycleTests.freshTables(amount: 10000, currency: "GBP")
        let lostSample = try ProviderLifecycle.sample("adyen/CHARGEBACK.dispute-lost.json")
        let lostItem = (lostSample["notificationItems"] as! [[String: Any]])[0]["NotificationRequestItem"] as! [String: Any]
        try Self.pay(&lost, .adyen, envelope(["pspReference": lostItem["originalReference"]!, "eventCode": "AUTHORISATION", "success": "true",
                                              "merchantReference": "ord_1", "amount": ["value": 10000, "currency": "GBP"]]))
        lost.write(lost.plan(try Self.normalize(.adyen, lostSample)))
        #expect(lost.orders[ProviderLifecycleTests.order]?.status == .chargedBack)
        #expect(lost.orders[ProviderLifecycleTests.order]?.ledger.disputes.values.first?.outcome == .lost)

        let refund = try ProviderLifecycle.sample("adyen/REFUND.success-true.json")
        var refundItem = (refund["notificationItems"] as! [[String: Any]])[0]["NotificationRequestItem"] as! [String: Any]
        var refunds = ProviderLifecycleTests.freshTables(amount: 1500, currency: "EUR")
        try Self.pay(&refunds, .adyen, envelope(["pspReference": refundItem["originalReference"]!, "eventCode": "AUTHORISATION", "success": "true",
                                                 "merchantReference": "ord_1", "amount": ["value": 1500, "currency": "EUR"]]))
        refunds.write(refunds.plan(try Self.normalize(.adyen, refund)))
        #expect(refunds.orders[ProviderLifecycleTests.order]?.status == .refunded)
        refundItem["eventCode"] = "REFUND_FAILED"  // arrives with success "true"
        refunds.write(refunds.plan(try Self.normalize(.adyen, envelope(refundItem))))
        #expect(refunds.orders[ProviderLifecycleTests.order]?.status == .paid)
        #expect(refunds.orders[ProviderLifecycleTests.order]?.refundedMinor == 0)
    }

    /// 4. A dispute's outcome before its opening (Checkout.com does not order deliveries) no
    /// longer leaves the order disputed forever.
    @Test(arguments: [Provider.checkout, .stripe])
    func aDisputeOutcomeBeforeItsOpeningStillChargesBack(provider: Provider) throws {
        let callbacks = try ProviderLifecycle.callbacks(provider, order: "ord_1", payment: "d1")
        var tables = ProviderLifecycleTests.freshTables()
        let statuses = ProviderLifecycleTests.deliver(try ProviderLifecycleTests.events(provider, [callbacks[0], callbacks[4], callbacks[3]]), to: &tables)
        #expect(statuses == [.paid, .chargedBack, .chargedBack])
        #expect(tables.orders[ProviderLifecycleTests.order]?.ledger.disputes.count == 1)
    }

    /// 5. Money on an order that cannot take it goes to a human with its reason, never "ignored".
    @Test func moneyThatCannotApplyGoesToReviewWithItsReason() throws {
        let callbacks = try ProviderLifecycle.callbacks(.stripe, order: "ord_1", payment: "m1")
        var doubled = ProviderLifecycleTests.freshTables()
        let again = try ProviderLifecycle.callbacks(.stripe, order: "ord_1", payment: "m2")[0]
        _ = ProviderLifecycleTests.deliver(try ProviderLifecycleTests.events(.stripe, [callbacks[0], again]), to: &doubled)
        #expect(doubled.orders[ProviderLifecycleTests.order]?.reviewReasons == [.doublePayment])

        var overRefunded = ProviderLifecycleTests.freshTables()
        var bigRefund = callbacks[1]
        bigRefund.body = Array(String(decoding: bigRefund.body, as: UTF8.self).replacingOccurrences(of: "\"amount\":500", with: "\"amount\":1900")
            .replacingOccurrences(of: "re_m1_1", with: "re_m1_2").replacingOccurrences(of: "evt_m1_re1", with: "evt_m1_re9").utf8)
        _ = ProviderLifecycleTests.deliver(try ProviderLifecycleTests.events(.stripe, [callbacks[0], callbacks[1], bigRefund]), to: &overRefunded)
        #expect(overRefunded.orders[ProviderLifecycleTests.order]?.reviewReasons == [.overRefund])
        #expect(overRefunded.orders[ProviderLifecycleTests.order]?.status == .needsReview)
    }

    /// 6. A signed amount near Int64.max traps nothing: refused at normalization, stored, counted.
    @Test func anAmountNearInt64MaxIsRefusedNotATrap() throws {
        let events = try Self.normalize(.stripe, ["id": "evt_max", "type": "refund.created", "data": ["object": [
            "id": "re_max", "amount": Int64.max, "payment_intent": "pi_x", "currency": "usd", "status": "succeeded"]]])
        #expect(events.first?.understood == false)
        #expect(events.first?.kind == .other)
        let plan = ProviderLifecycleTests.freshTables().plan(events)
        #expect(plan.results == [.recorded(.stored)])
    }

    /// 7. Two sources of one tenant for the same provider account store an event once.
    @Test func sourcesSharingAnAccountDeduplicateTogether() throws {
        let callbacks = try ProviderLifecycle.callbacks(.stripe, order: "ord_1", payment: "a1")
        let old = try ProviderLifecycleTests.events(.stripe, callbacks, source: "stripe-old", account: "acct_main")
        let new = try ProviderLifecycleTests.events(.stripe, callbacks, source: "stripe-new", account: "acct_main")
        var tables = ProviderLifecycleTests.freshTables()
        _ = ProviderLifecycleTests.deliver([old[0], old[1]], to: &tables)
        let plan = tables.plan(new[1])
        #expect(plan.results == [.duplicate])
        tables.write(plan)
        #expect(tables.orders[ProviderLifecycleTests.order]?.refundedMinor == ProviderLifecycle.partialMinor)
        // Without a shared account they are two scopes (and the refund still counts once by its id).
        let separate = try ProviderLifecycleTests.events(.stripe, callbacks, source: "stripe-other")
        let other = tables.plan(separate[1])
        #expect(other.results == [.recorded(.ignored)])
    }
}
