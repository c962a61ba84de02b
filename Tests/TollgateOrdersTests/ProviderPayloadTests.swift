import Foundation
import Testing
import TollgateCore
import TollgateOrders

/// Every real provider payload in Tests/Fixtures/provider-payloads/ (copied byte for byte from
/// shared/provider-payloads/, whose README says where each comes from and what matters in it)
/// normalizes to the kind, identity, amount and references the provider means, and the fact its
/// README line names holds. Then the amount guards: no body, however large its amount, traps.
@Suite struct ProviderPayloadTests {
    // MARK: Loading

    /// The bytes of `Fixtures/provider-payloads/<path>`, exactly as stored.
    func payload(_ path: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/provider-payloads/\(path)")
        return Array(try Data(contentsOf: url))
    }

    func normalize(_ provider: Provider, _ body: [UInt8], headers: [String: String] = [:]) throws -> [PaymentEvent] {
        try PaymentEventNormalizer(tenant: "demo", source: provider.rawValue, provider: provider).normalize(headers: headers, body: body)
    }

    /// The single event a one-event body yields.
    func one(_ provider: Provider, _ path: String, headers: [String: String] = [:]) throws -> PaymentEvent {
        let events = try normalize(provider, try payload(path), headers: headers)
        #expect(events.count == 1)
        return try #require(events.first)
    }

    /// Asserts the normalized facts of `event`; `links.first` is the payment it is or points at.
    func check(
        _ event: PaymentEvent, id: String, kind: PaymentEventKind, orderID: String?, links: [String],
        amount: Int64?, currency: String?, facts: EventFacts = EventFacts(), sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(event.understood, sourceLocation: sourceLocation)
        #expect(event.providerEventID == id, sourceLocation: sourceLocation)
        #expect(event.kind == kind, sourceLocation: sourceLocation)
        #expect(event.orderID == orderID, sourceLocation: sourceLocation)
        #expect(event.linkReferences == links, sourceLocation: sourceLocation)
        #expect(event.providerPaymentID == links.first, sourceLocation: sourceLocation)
        #expect(event.amountMinor == amount, sourceLocation: sourceLocation)
        #expect(event.currency == currency, sourceLocation: sourceLocation)
        #expect(event.facts == facts, sourceLocation: sourceLocation)
    }

    // MARK: Stripe

    /// basil capture: integer minor units, lowercase currency, the merchant's keys only in
    /// metadata (lago_*, no order_id), the charge only through `latest_charge`.
    @Test func stripePaymentIntentSucceeded() throws {
        let event = try one(.stripe, "stripe/payment_intent.succeeded.json")
        check(event, id: "evt_3RTkpYQ8iJWBZFaM1G1JtOIT", kind: .paymentSucceeded, orderID: nil,
              links: ["pi_3RTkpYQ8iJWBZFaM1LBHNo0J", "ch_3RTkpYQ8iJWBZFaM1WnB7qvm"], amount: 4620, currency: "EUR")
        #expect(event.occurredAt == Date(timeIntervalSince1970: 1_748_441_984))
    }

    /// Still `requires_payment_method` (retryable): a failure, linked by the intent and the
    /// `latest_charge` it carries even though it failed; the order may still be paid later.
    @Test func stripePaymentIntentPaymentFailed() throws {
        let event = try one(.stripe, "stripe/payment_intent.payment_failed.json")
        check(event, id: "evt_3SVvxMQ8iJWBZFaM1z5wZ6Za", kind: .paymentFailed, orderID: nil,
              links: ["pi_3SVvxMQ8iJWBZFaM1Lao8ehu", "ch_3SVvxMQ8iJWBZFaM1YEcxCs2"], amount: 11880, currency: "USD")
        let failed = OrderStateMachine.apply(event.orderEvent, to: OrderState(status: .pendingPayment, amountMinor: 11880, currency: "USD"))
        guard case .applied(let order) = failed else { Issue.record("payment_failed was not applied: \(failed)"); return }
        #expect(order.status == .failed)
        #expect(OrderStatus.beforePayment.contains(order.status), "a failed order can still be paid by a retry")
    }

    /// Legacy Charges API, authorized only (`captured` false, `payment_intent` null): stored, never
    /// acted on; no metadata so no order.
    @Test func stripeChargeSucceededIsOther() throws {
        let event = try one(.stripe, "stripe/charge.succeeded.json")
        check(event, id: "evt_1LCflrDu4p87RxPw3rxrRLSc", kind: .other, orderID: nil,
              links: ["ch_3L7z2aDu4p87RxPw290ERIXH"], amount: 100, currency: "EUR")
    }

    /// clover: no `refunds` list, so no refund id: the cumulative `amount_refunded` (3800 HKD, the
    /// whole charge) is the fact, linked through the PaymentIntent and the charge.
    @Test func stripeChargeRefundedIsACumulativeTotal() throws {
        let event = try one(.stripe, "stripe/charge.refunded.json")
        check(event, id: "evt_3Sj8z9QEUxc7vavP077F5RoS", kind: .refundSucceeded, orderID: nil,
              links: ["pi_3Sj8z9QEUxc7vavP0hxAfxkD", "ch_3Sj8z9QEUxc7vavP0e0F37LW"], amount: 3800, currency: "HKD",
              facts: EventFacts(refundIsCumulative: true))
        #expect(event.facts.refundID == nil)
    }

    /// The refund object carries charge and payment_intent; `metadata.order_id` "6735" arrived
    /// after creation and is read from the update.
    @Test func stripeChargeRefundUpdatedCarriesLateMetadata() throws {
        let event = try one(.stripe, "stripe/charge.refund.updated.json")
        check(event, id: "evt_3RWYCFQ8iJWBZFaM1z10b8SX", kind: .refundSucceeded, orderID: "6735",
              links: ["pi_3RWYCFQ8iJWBZFaM1p1gEVdI", "ch_3RWYCFQ8iJWBZFaM1R8YF07I"], amount: 100, currency: "USD",
              facts: EventFacts(refundID: "re_3RWYCFQ8iJWBZFaM191ZqGD9"))
    }

    /// Hand-assembled envelope: the event's time (2022-01) is earlier than the refund's own
    /// `created` (2023-08). occurredAt is the event's, taken as given, never "corrected".
    @Test func stripeRefundCreated() throws {
        let event = try one(.stripe, "stripe/refund.created.json")
        check(event, id: "evt_1KJrGtJDPojXS6LN15fcthM3", kind: .refundSucceeded, orderID: nil,
              links: ["pi_1GszsK2eZvKYlo2CfhZyoZLp", "ch_1NirD82eZvKYlo2CIvbtLWuY"], amount: 1000, currency: "USD",
              facts: EventFacts(refundID: "re_1Nispe2eZvKYlo2Cd31jOCgZ"))
        #expect(event.occurredAt == Date(timeIntervalSince1970: 1_642_649_111))
    }

    /// An inquiry: no metadata, so no order id; the order is found through payment_intent + charge.
    @Test func stripeDisputeCreated() throws {
        let event = try one(.stripe, "stripe/charge.dispute.created.json")
        check(event, id: "evt_created3RWXidQ8iJWBZFaM0N9UpCe2", kind: .disputeOpened, orderID: nil,
              links: ["pi_3RWXidQ8iJWBZFaM0hwfe7LL", "ch_3RWXidQ8iJWBZFaM07eC54Yk"], amount: 100, currency: "USD",
              facts: EventFacts(disputeID: "dp_1RWXieQ8iJWBZFaM572opwWo"))
    }

    /// API 2017: the dispute references the charge only (no payment_intent field).
    @Test func stripeDisputeFundsWithdrawnReferencesTheChargeOnly() throws {
        let event = try one(.stripe, "stripe/charge.dispute.funds_withdrawn.json")
        check(event, id: "evt_00000000000000", kind: .disputeFundsWithdrawn, orderID: nil,
              links: ["ch_00000000000000"], amount: 25000, currency: "USD",
              facts: EventFacts(disputeID: "dp_00000000000000"))
    }

    /// Outcome in `status` lost; the top-level `organization_id` Lago injected is tolerated.
    @Test func stripeDisputeClosedLost() throws {
        let event = try one(.stripe, "stripe/charge.dispute.closed.lost.json")
        check(event, id: "evt_3OzgpDH4tiDZlIUa09cnGOsO", kind: .disputeLost, orderID: nil,
              links: ["pi_3OzgpDH4tiDZlIUa0Ezzggtg", "ch_3OzgpDH4tiDZlIUa0M7QchGT"], amount: 4516, currency: "USD",
              facts: EventFacts(disputeID: "dp_1OzgpEH4tiDZlIUaZ8iWQMsb"))
    }

    /// Old minimal shape; `payment_status` paid makes it the payment, linked by its PaymentIntent
    /// only (client_reference_id null, metadata empty).
    @Test func stripeCheckoutSessionCompletedPaid() throws {
        let event = try one(.stripe, "stripe/checkout.session.completed.json")
        check(event, id: "evt_00000000000000", kind: .paymentSucceeded, orderID: nil,
              links: ["pi_00000000000000"], amount: 25000, currency: "USD")
    }

    /// The corpus's zeroed ids collide: funds_withdrawn and checkout.session.completed share
    /// `evt_00000000000000`. Identity is Stripe's event id, so these two would be one stored event;
    /// real Stripe ids are unique, which is why the event id alone is the key.
    @Test func stripeZeroedEventIDsCollideAsTheREADMESays() throws {
        let withdrawn = try one(.stripe, "stripe/charge.dispute.funds_withdrawn.json")
        let completed = try one(.stripe, "stripe/checkout.session.completed.json")
        #expect(withdrawn.key == completed.key)
        #expect(withdrawn.kind != completed.kind)
    }

    // MARK: Adyen

    /// `success` as text, amount integer minor units (10100 EUR), merchantReference is the order;
    /// additionalData keys with spaces and `\/` escapes do not disturb parsing.
    @Test func adyenAuthorisation() throws {
        let event = try one(.adyen, "adyen/AUTHORISATION.success-true.json")
        check(event, id: "123456789:AUTHORISATION:true", kind: .paymentSucceeded, orderID: "8313842560770001",
              links: ["123456789"], amount: 10100, currency: "EUR")
        #expect(event.occurredAt == Date(timeIntervalSince1970: 1_484_840_523))
    }

    /// The verifiable sample: no originalReference; fractional seconds in eventDate.
    @Test func adyenAuthorisationHMACVector() throws {
        let event = try one(.adyen, "adyen/AUTHORISATION.hmac-vector.json")
        check(event, id: "7914073381342284:AUTHORISATION:true", kind: .paymentSucceeded, orderID: "TestPayment-1407325143704",
              links: ["7914073381342284"], amount: 1130, currency: "EUR")
        let occurred = try #require(event.occurredAt)
        #expect(abs(occurred.timeIntervalSince1970 - 1_557_155_734.121) < 0.001)
    }

    /// A capture is stored, not acted on; it points at the payment through originalReference.
    @Test func adyenCaptureIsOther() throws {
        let event = try one(.adyen, "adyen/CAPTURE.success-true.json")
        check(event, id: "PSP_REFERENCE:CAPTURE:true", kind: .other, orderID: nil,
              links: ["ORIGINAL_PSP"], amount: 23623, currency: "USD")
    }

    /// No merchantReference: the order is found only through originalReference.
    @Test func adyenCancellation() throws {
        let event = try one(.adyen, "adyen/CANCELLATION.json")
        check(event, id: "8412534564722331:CANCELLATION:true", kind: .paymentCanceled, orderID: nil,
              links: ["8313547924770610"], amount: 500, currency: "EUR")
    }

    /// The refund's merchantReference ("…-refund") is its own, not the order's: no order id; the
    /// refund is named by its pspReference and linked by [originalReference, pspReference].
    @Test func adyenRefund() throws {
        let event = try one(.adyen, "adyen/REFUND.success-true.json")
        check(event, id: "PSP_REFERENCE:REFUND:true", kind: .refundSucceeded, orderID: nil,
              links: ["ORIGINAL_PSP", "PSP_REFERENCE"], amount: 1500, currency: "EUR",
              facts: EventFacts(refundID: "PSP_REFERENCE"))
    }

    /// REFUND and CAPTURE share a pspReference: the eventCode keeps them two events.
    @Test func adyenRefundAndCaptureWithOnePSPReferenceAreTwoEvents() throws {
        let refund = try one(.adyen, "adyen/REFUND.success-true.json")
        let capture = try one(.adyen, "adyen/CAPTURE.success-true.json")
        #expect(refund.key != capture.key)
    }

    /// A rejected refund (`success` "false"): refundFailed under the refund's pspReference.
    @Test func adyenRefundRejected() throws {
        let event = try one(.adyen, "adyen/REFUND.success-false.json")
        check(event, id: "QFQTPCQ8HXSKGK82:REFUND:false", kind: .refundFailed, orderID: nil,
              links: ["9913140798220028", "QFQTPCQ8HXSKGK82"], amount: 1000, currency: "EUR",
              facts: EventFacts(refundID: "QFQTPCQ8HXSKGK82"))
    }

    /// No money moved yet; the amount is `amount.value` (1000), not additionalData.grossValue "2000".
    @Test func adyenNotificationOfChargeback() throws {
        let event = try one(.adyen, "adyen/NOTIFICATION_OF_CHARGEBACK.json")
        check(event, id: "QFQTPCQ8HXSKGK82:NOTIFICATION_OF_CHARGEBACK:true", kind: .disputeOpened, orderID: "YOUR_MERCHANT_REFERENCE",
              links: ["9913140798220028", "QFQTPCQ8HXSKGK82"], amount: 1000, currency: "EUR",
              facts: EventFacts(disputeID: "QFQTPCQ8HXSKGK82"))
    }

    /// A CHARGEBACK without disputeStatus: the funds are gone, the outcome is still to come.
    @Test func adyenChargebackWithoutStatusIsFundsWithdrawn() throws {
        let event = try one(.adyen, "adyen/CHARGEBACK.json")
        check(event, id: "9915555555555555:CHARGEBACK:true", kind: .disputeFundsWithdrawn, orderID: "XXXXXXXXXX",
              links: ["9913333333333333", "9915555555555555"], amount: 1000, currency: "EUR",
              facts: EventFacts(disputeID: "9915555555555555"))
    }

    /// The outcome is only in additionalData.disputeStatus "Lost".
    @Test func adyenChargebackLost() throws {
        let event = try one(.adyen, "adyen/CHARGEBACK.dispute-lost.json")
        check(event, id: "9915555555555555:CHARGEBACK:true:Lost", kind: .disputeLost, orderID: "YOUR_REFERENCE",
              links: ["9913333333333333", "9915555555555555"], amount: 10000, currency: "GBP",
              facts: EventFacts(disputeID: "9915555555555555"))
    }

    /// Same pspReference, eventCode and success as CHARGEBACK.json: only disputeStatus tells the
    /// outcome report from a redelivery. Both are stored, and the dispute ends lost either way round.
    @Test func adyenChargebackOutcomeIsNotADuplicateOfTheChargeback() throws {
        let withdrawn = try one(.adyen, "adyen/CHARGEBACK.json")
        let lost = try one(.adyen, "adyen/CHARGEBACK.dispute-lost.json")
        #expect(withdrawn.key != lost.key)
        var paid = OrderState(status: .paid, amountMinor: 1000, currency: "EUR")
        paid.ledger.paidBy = "9913333333333333"
        (paid.ledger.paidAmountMinor, paid.ledger.paidCurrency) = (1000, "EUR")
        for events in [[withdrawn, lost], [lost, withdrawn]] {
            var order = paid
            for event in events {
                if case .applied(let next) = OrderStateMachine.apply(event.orderEvent, to: order) { order = next }
            }
            #expect(order.status == .chargedBack)
            #expect(order.ledger.disputes["9915555555555555"]?.outcome == .lost)
        }
    }

    /// No originalReference: the dispute's own pspReference (which the earlier stages linked to the
    /// order) and merchantReference are what find the order.
    @Test func adyenChargebackReversed() throws {
        let event = try one(.adyen, "adyen/CHARGEBACK_REVERSED.json")
        check(event, id: "QFQTPCQ8HXSKGK82:CHARGEBACK_REVERSED:true", kind: .disputeWon, orderID: "YOUR_MERCHANT_REFERENCE",
              links: ["QFQTPCQ8HXSKGK82"], amount: 1000, currency: "EUR",
              facts: EventFacts(disputeID: "QFQTPCQ8HXSKGK82"))
    }

    /// Pre-dispute: opened, no money moved.
    @Test func adyenRequestForInformation() throws {
        let event = try one(.adyen, "adyen/REQUEST_FOR_INFORMATION.json")
        check(event, id: "QFQTPCQ8HXSKGK82:REQUEST_FOR_INFORMATION:true", kind: .disputeOpened, orderID: "YOUR_MERCHANT_REFERENCE",
              links: ["9913140798220028", "QFQTPCQ8HXSKGK82"], amount: 1000, currency: "EUR",
              facts: EventFacts(disputeID: "QFQTPCQ8HXSKGK82"))
    }

    /// Every Adyen docs example reuses pspReference QFQTPCQ8HXSKGK82: the eventCode (and success)
    /// keep the four samples four events.
    @Test func adyenDocsSamplesSharingAPSPReferenceAreDistinctEvents() throws {
        let files = ["REFUND.success-false", "NOTIFICATION_OF_CHARGEBACK", "CHARGEBACK_REVERSED", "REQUEST_FOR_INFORMATION"]
        let keys = try files.map { try one(.adyen, "adyen/\($0).json").key }
        #expect(Set(keys).count == files.count)
    }

    /// Unpaid offer expired; the unusual "+02:12" offset is honoured.
    @Test func adyenOfferClosed() throws {
        let event = try one(.adyen, "adyen/OFFER_CLOSED.json")
        check(event, id: "8532565401975321:OFFER_CLOSED:true", kind: .checkoutExpired, orderID: "000000275",
              links: ["8532565401975321"], amount: 27211, currency: "EUR")
        #expect(event.occurredAt == Date(timeIntervalSince1970: 1_556_539_530))
    }

    // MARK: Paddle

    /// The `*.data.json` samples are only the `data` object. The test wraps the fragment's bytes,
    /// unchanged, in an envelope whose event_id, event_type and occurred_at are ours (the
    /// fragments carry none).
    func paddleEnvelope(_ fragment: String, eventID: String, type: String) throws -> [UInt8] {
        Array(#"{"event_id":"\#(eventID)","event_type":"\#(type)","occurred_at":"2024-04-12T10:19:00.000000Z","data":"#.utf8)
            + (try payload("paddle/\(fragment)")) + Array("}".utf8)
    }

    /// Amounts are strings in minor units ("65215"); custom_data null, so no order id.
    @Test func paddleTransactionCompleted() throws {
        let events = try normalize(.paddle, try paddleEnvelope("transaction.completed.data.json", eventID: "evt_test_completed", type: "transaction.completed"))
        let event = try #require(events.first)
        check(event, id: "evt_test_completed", kind: .paymentSucceeded, orderID: nil,
              links: ["txn_01hv8wptq8987qeep44cyrewp9"], amount: 65215, currency: "USD")
    }

    /// `paid` comes before `completed`, same transaction: both are the payment, linked by one txn
    /// id, so the second counts as the same payment again.
    @Test func paddleTransactionPaidAndCompletedAreOnePayment() throws {
        let paid = try #require(try normalize(.paddle, try paddleEnvelope("transaction.paid.data.json", eventID: "evt_test_paid", type: "transaction.paid")).first)
        let completed = try #require(try normalize(.paddle, try paddleEnvelope("transaction.completed.data.json", eventID: "evt_test_completed", type: "transaction.completed")).first)
        check(paid, id: "evt_test_paid", kind: .paymentSucceeded, orderID: nil,
              links: ["txn_01hv8wptq8987qeep44cyrewp9"], amount: 65215, currency: "USD")
        #expect(paid.linkReferences == completed.linkReferences)
        let first = OrderStateMachine.apply(paid.orderEvent, to: OrderState(status: .pendingPayment, amountMinor: 65215, currency: "USD"))
        guard case .applied(let order) = first else { Issue.record("transaction.paid was not applied: \(first)"); return }
        #expect(order.status == .paid)
        guard case .ignored = OrderStateMachine.apply(completed.orderEvent, to: order) else {
            Issue.record("transaction.completed after transaction.paid counted as another payment")
            return
        }
    }

    /// The transaction stays `ready`; the failure is in the event type (and payments[].status).
    @Test func paddleTransactionPaymentFailed() throws {
        let events = try normalize(.paddle, try paddleEnvelope("transaction.payment_failed.data.json", eventID: "evt_test_failed", type: "transaction.payment_failed"))
        check(try #require(events.first), id: "evt_test_failed", kind: .paymentFailed, orderID: nil,
              links: ["txn_01hv8wptq8987qeep44cyrewp9"], amount: 65215, currency: "USD")
    }

    /// A refund request `pending_approval`: no money yet, so `other`; linked to the payment by
    /// transaction_id; its id names a refund, not a dispute.
    @Test func paddleAdjustmentCreatedPendingIsNoMoneyYet() throws {
        let events = try normalize(.paddle, try paddleEnvelope("adjustment.created.data.json", eventID: "evt_test_adjustment", type: "adjustment.created"))
        check(try #require(events.first), id: "evt_test_adjustment", kind: .other, orderID: nil,
              links: ["txn_01hvcc93znj3mpqt1tenkjb04y"], amount: 100, currency: "USD",
              facts: EventFacts(refundID: "adj_01hvgf2s84dr6reszzg29zbvcm"))
    }

    /// A full envelope: identity is event_id; a subscription is not a payment (its first payment
    /// comes as that transaction's own events).
    @Test func paddleSubscriptionCreatedIsOther() throws {
        let event = try one(.paddle, "paddle/subscription.created.json")
        check(event, id: "evt_01h7ht60jy5hpdv5x8tfsaxje4", kind: .other, orderID: nil, links: [], amount: nil, currency: nil)
    }

    /// The compact raw body as signed: identity is event_id, not notification_id.
    @Test func paddleCustomerCreatedIsOther() throws {
        let event = try one(.paddle, "paddle/customer.created.json")
        check(event, id: "evt_01hs0tqfme2xwb2hvwv87p8y3w", kind: .other, orderID: nil, links: [], amount: nil, currency: nil)
        #expect(event.occurredAt == ISO8601Timestamp.parse("2024-03-15T10:32:38.286848Z"))
    }

    /// Not a webhook body: each envelope of the Events API list is normalized on its own (they
    /// lack notification_id but have event_id). One transaction's created/billed/payment_failed/
    /// updated/past_due: only payment_failed acts; completed is the other transaction's payment.
    @Test func paddleEventsListEnvelopes() throws {
        let list = try #require(try JSONSerialization.jsonObject(with: Data(try payload("paddle/events-list.transaction-lifecycle.json"))) as? [String: Any])
        let envelopes = try #require(list["data"] as? [[String: Any]])
        var seen: [String] = []
        for envelope in envelopes {
            #expect(envelope["notification_id"] == nil)
            let body = Array(try JSONSerialization.data(withJSONObject: envelope))
            let event = try #require(try normalize(.paddle, body).first)
            #expect(event.understood)
            #expect(event.providerEventID == envelope["event_id"] as? String)
            seen.append("\(envelope["event_type"] as? String ?? "?") \(event.kind.rawValue) \(event.linkReferences.joined(separator: ",")) \(event.amountMinor.map(String.init) ?? "-") \(event.currency ?? "-")")
        }
        #expect(seen == [
            "subscription.updated other  - -",
            "subscription.created other  - -",
            "transaction.past_due other txn_01hg0trpqvp70evgmzj1648z5q 66000 GBP",
            "transaction.updated other txn_01hg0trpqvp70evgmzj1648z5q 66000 GBP",
            "transaction.payment_failed payment.failed txn_01hg0trpqvp70evgmzj1648z5q 66000 GBP",
            "transaction.billed other txn_01hg0trpqvp70evgmzj1648z5q 66000 GBP",
            "transaction.created other txn_01hg0trpqvp70evgmzj1648z5q 66000 GBP",
            "subscription.updated other  - -",
            "transaction.created other txn_01hfzvc6e6zqc0eehgqhjsfx5b 63494 USD",
            "transaction.updated other txn_01hfyd09vas8qwq6jw7k6yd9rg 66000 GBP",
            "transaction.completed payment.succeeded txn_01hfyd09vas8qwq6jw7k6yd9rg 66000 GBP",
        ])
    }

    // MARK: Xsolla

    /// Raw capture: identity `payment:<transaction.id>` (an integer in the body); 1.99 USD in
    /// major units is 199 minor units; no external_id, so no order.
    @Test func xsollaPayment() throws {
        let event = try one(.xsolla, "xsolla/payment.json")
        check(event, id: "payment:2103276197", kind: .paymentSucceeded, orderID: nil,
              links: ["2103276197"], amount: 199, currency: "USD")
    }

    /// No transaction at all: nothing to deduplicate on, so it is refused with `noEventID`, as
    /// PROVIDERS.md (identity = type + transaction.id) and the normalizer's contract say.
    @Test func xsollaUserValidationHasNoEventID() throws {
        let body = try payload("xsolla/user_validation.json")
        #expect(throws: NormalizationError.noEventID) { try normalize(.xsolla, body) }
    }

    // MARK: Standard Webhooks

    /// The spec's example headers (`name: value` lines), names lower-cased.
    func standardWebhooksHeaders() throws -> [String: String] {
        let text = String(decoding: try payload("standard-webhooks/example.headers.txt"), as: UTF8.self)
        var headers: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return headers
    }

    /// Our own shape is not theirs: a foreign type is `other`; the id is the webhook-id header.
    @Test func standardWebhooksExampleEvent() throws {
        let headers = try standardWebhooksHeaders()
        #expect(headers["webhook-id"] == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
        let event = try one(.standardWebhooks, "standard-webhooks/example.event.json", headers: headers)
        check(event, id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", kind: .other, orderID: nil, links: [], amount: nil, currency: nil)
        #expect(event.occurredAt == ISO8601Timestamp.parse("2022-11-03T20:26:10.344522Z"))
    }

    /// Full-payload variant: data.id is the contact's, not the event's.
    @Test func standardWebhooksContactCreated() throws {
        let event = try one(.standardWebhooks, "standard-webhooks/contact.created.full.json", headers: try standardWebhooksHeaders())
        check(event, id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", kind: .other, orderID: nil, links: [], amount: nil, currency: nil)
    }

    /// A Svix operational webhook: the body's msgId / msgEventId name the failed message, not this
    /// event; the id is the header's (webhook-id or svix-id), and without one it is refused.
    @Test func svixOperationalWebhookIsOther() throws {
        for headers in [["webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"], ["svix-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"]] {
            let event = try one(.standardWebhooks, "standard-webhooks/svix.message.attempt.exhausted.json", headers: headers)
            check(event, id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", kind: .other, orderID: nil, links: [], amount: nil, currency: nil)
            #expect(event.occurredAt == nil)
        }
        let body = try payload("standard-webhooks/svix.message.attempt.exhausted.json")
        #expect(throws: NormalizationError.noEventID) { try normalize(.standardWebhooks, body) }
    }

    // MARK: Amount guards

    /// Amounts past 10^15 minor units, 9e18, and 30 digits, as JSON numbers and as strings.
    static let hugeMinor = ["1000000000000001", "9e18", "9000000000000000000", "123456789012345678901234567890",
                            #""1000000000000001""#, #""9000000000000000000""#, #""123456789012345678901234567890""#]
    /// The same in Xsolla's major units (USD: 10^13.01 is 10^15 + 1 cents).
    static let hugeMajor = ["10000000000000.01", "9e18", "90000000000000000", "123456789012345678901234567890",
                            #""10000000000000.01""#, #""9e18""#, #""123456789012345678901234567890""#]

    func body(_ provider: Provider, amount: String) -> [UInt8] {
        let text = switch provider {
        case .stripe:
            #"{"id":"evt_huge","type":"payment_intent.succeeded","data":{"object":{"id":"pi_huge","amount_received":\#(amount),"currency":"usd"}}}"#
        case .adyen:
            #"{"live":"false","notificationItems":[{"NotificationRequestItem":{"pspReference":"HUGE","eventCode":"AUTHORISATION","success":"true","merchantReference":"ord_huge","amount":{"value":\#(amount),"currency":"EUR"}}}]}"#
        case .paddle:
            #"{"event_id":"evt_huge","event_type":"transaction.completed","data":{"id":"txn_huge","details":{"totals":{"grand_total":\#(amount),"currency_code":"USD"}}}}"#
        default:
            #"{"notification_type":"payment","transaction":{"id":1,"external_id":"ord_huge"},"purchase":{"total":{"currency":"USD","amount":\#(amount)}}}"#
        }
        return Array(text.utf8)
    }

    @Test(arguments: [Provider.stripe, .adyen, .paddle, .xsolla])
    func hugeAmountsAreRefusedNeverTrapped(provider: Provider) throws {
        for amount in provider == .xsolla ? Self.hugeMajor : Self.hugeMinor {
            let event = try #require(try normalize(provider, body(provider, amount: amount)).first, "\(amount)")
            #expect(!event.understood, "\(provider) \(amount)")
            #expect(event.kind == .other, "\(provider) \(amount)")
            #expect(event.amountMinor == nil, "\(provider) \(amount)")
        }
        // The largest amount understood is exactly 10^15 minor units.
        let limit = provider == .xsolla ? "10000000000000" : provider == .paddle ? #""1000000000000000""# : "1000000000000000"
        let event = try #require(try normalize(provider, body(provider, amount: limit)).first)
        #expect(event.understood)
        #expect(event.kind == .paymentSucceeded)
        #expect(event.amountMinor == PaymentEventNormalizer.maximumAmountMinor)
    }

    /// Xsolla sends major units: the ISO 4217 exponent of the currency makes minor units.
    @Test(arguments: [
        ("JPY", "500", 500), ("JPY", #""500""#, 500), ("JPY", "500.0", 500),
        ("KWD", "1.234", 1234), ("KWD", #""1.2340""#, 1234), ("KWD", "2", 2000),
        ("USD", "9.99", 999), ("USD", "1.99", 199), ("USD", "0.1", 10), ("USD", #""1.9900""#, 199), ("USD", "5", 500),
    ] as [(String, String, Int64)])
    func xsollaMajorUnits(currency: String, amount: String, minor: Int64) throws {
        let body = Array(#"{"notification_type":"payment","transaction":{"id":7},"purchase":{"total":{"currency":"\#(currency)","amount":\#(amount)}}}"#.utf8)
        let event = try #require(try normalize(.xsolla, body).first)
        #expect(event.understood)
        #expect(event.kind == .paymentSucceeded)
        #expect(event.currency == currency)
        #expect(event.amountMinor == minor)
    }

    /// More fractional digits than the currency has cannot be a real amount: refused, not rounded.
    @Test(arguments: [("JPY", "500.5"), ("USD", #""1.9950""#), ("KWD", "1.2345"), ("USD", #""1,99""#), ("USD", #""-1.99""#)])
    func xsollaAmountsFinerThanTheCurrencyAreRefused(currency: String, amount: String) throws {
        let body = Array(#"{"notification_type":"payment","transaction":{"id":7},"purchase":{"total":{"currency":"\#(currency)","amount":\#(amount)}}}"#.utf8)
        let event = try #require(try normalize(.xsolla, body).first)
        #expect(!event.understood)
        #expect(event.kind == .other)
        #expect(event.amountMinor == nil)
    }
}
