import Testing
import TollgateCheckout

/// `GET /v1/payment_intents/{id}`: what an order that already has its payment id does instead of
/// creating again (Stripe forgets idempotency keys after 24 hours).
@Suite struct StripeRetrieveTests {
    func body(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func aFoundPaymentIntentIsOpenedWithItsClientSecret() {
        let answer = body(#"{"id":"pi_3Abc_12","object":"payment_intent","client_secret":"pi_3Abc_12_secret_x","status":"requires_payment_method"}"#)
        let expected = UpstreamOutcome.opened(OpenedPayment(provider: "stripe", id: "pi_3Abc_12", clientSecret: "pi_3Abc_12_secret_x"))
        #expect(StripePaymentIntents.retrieveOutcome(status: 200, body: answer) == expected)
        #expect(StripePaymentIntents.retrieveOutcome(status: 200, body: answer, requestedID: "pi_3Abc_12") == expected)
        // Without a client secret (a publishable key would not get one) it is still the payment.
        #expect(StripePaymentIntents.retrieveOutcome(status: 200, body: body(#"{"id":"pi_1"}"#))
            == .opened(OpenedPayment(provider: "stripe", id: "pi_1", clientSecret: nil)))
    }

    @Test func anAnswerAboutAnotherObjectIsNotTrusted() {
        #expect(StripePaymentIntents.retrieveOutcome(status: 200, body: body(#"{"id":"pi_other","client_secret":"s"}"#), requestedID: "pi_mine")
            == .rejected(status: 200, code: "payment_intent_mismatch"))
        #expect(StripePaymentIntents.retrieveOutcome(status: 200, body: body(#"{"id":"ch_1"}"#)) == .transient("unreadable payment intent"))
        #expect(StripePaymentIntents.retrieveOutcome(status: 200, body: body("garbage")) == .transient("unreadable payment intent"))
    }

    @Test func missingIsRejectedAndOverloadIsTransient() {
        let missing = body(#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"intent","message":"No such payment_intent: 'pi_x'"}}"#)
        #expect(StripePaymentIntents.retrieveOutcome(status: 404, body: missing) == .rejected(status: 404, code: "resource_missing"))
        #expect(StripePaymentIntents.retrieveOutcome(status: 404, body: []) == .rejected(status: 404, code: "http_404"))
        #expect(StripePaymentIntents.retrieveOutcome(status: 401, body: body(#"{"error":{"type":"invalid_request_error","code":"api_key_invalid"}}"#))
            == .rejected(status: 401, code: "api_key_invalid"))
        #expect(StripePaymentIntents.retrieveOutcome(status: 429, body: body(#"{"error":{"type":"invalid_request_error","code":"rate_limit"}}"#))
            == .transient("http 429 rate_limit"))
        #expect(StripePaymentIntents.retrieveOutcome(status: 500, body: []) == .transient("http 500 http_500"))
        #expect(StripePaymentIntents.retrieveOutcome(status: 503, body: []) == .transient("http 503 http_503"))
        #expect(StripePaymentIntents.retrieveOutcome(status: 409, body: body(#"{"error":{"type":"invalid_request_error","code":"lock_timeout"}}"#))
            == .transient("http 409 lock_timeout"))
        // A retrieve never declines the player's payment.
        #expect(StripePaymentIntents.retrieveOutcome(status: 402, body: body(#"{"error":{"type":"card_error","code":"card_declined"}}"#))
            == .rejected(status: 402, code: "card_declined"))
    }

    @Test func onlyPaymentIntentIdsReachThePath() {
        #expect(StripePaymentIntents.retrievePath(id: "pi_3MtwBwLkdIwHu7ix28a3tqPa") == "/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa")
        #expect(StripePaymentIntents.retrievePath(id: "pi_sim_0123abcd") == "/v1/payment_intents/pi_sim_0123abcd")
        for bad in ["", "pi_", "pi", "ch_123", "PI_123", " pi_1", "pi_1 ", "pi_1/../../v1/charges", "pi_1?expand[]=customer", "pi_1#x",
                    "pi_1%2F", "pi_1-2", "pi_1.2", "pi_é", "pi_1\n", "pi_1\u{0}", "pi_" + String(repeating: "a", count: 253)] {
            #expect(StripePaymentIntents.retrievePath(id: bad) == nil, "\(bad.debugDescription)")
            #expect(!StripePaymentIntents.isPaymentIntentID(bad))
        }
        #expect(StripePaymentIntents.isPaymentIntentID("pi_" + String(repeating: "a", count: 252)), "255 characters is the bound")
        #expect(StripePaymentIntents.invalidIDCode == "invalid_payment_intent_id")
    }
}
