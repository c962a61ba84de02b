import Testing
import TollgateCheckout
import TollgateCore

@Suite struct CheckoutOrderValidatorTests {
    let validator = CheckoutOrderValidator()

    func validate(_ json: String) throws(CheckoutValidationError) -> CheckoutOrder {
        try validator.validate(Array(json.utf8))
    }

    @Test func validOrderParses() throws {
        let order = try validate(#"{"player_id":"p1","items":[{"sku":"gems-100","quantity":2,"unit_amount_minor":499}],"currency":"EUR","country":"DE","return_url":"https://hub.example/done"}"#)
        #expect(order.items == [.init(sku: "gems-100", quantity: 2, shownUnitAmountMinor: 499)])
        // The shown price is optional: the page names items, the catalog prices them.
        let unpriced = try validate(#"{"player_id":"p1","items":[{"sku":"gems-100","quantity":2}],"currency":"EUR","return_url":"https://hub.example/done"}"#)
        #expect(unpriced.items == [.init(sku: "gems-100", quantity: 2, shownUnitAmountMinor: nil)])
    }

    @Test func everyBadFieldIsNamed() {
        let body = #"{"player_id":"","items":[{"sku":"","quantity":0,"unit_amount_minor":1.5},{"sku":"x","quantity":"2","unit_amount_minor":true}],"currency":"eur","country":"Germany","return_url":"http://hub.example","coupon":"FREE"}"#
        #expect(throws: CheckoutValidationError.invalid([
            FieldError(field: "coupon", message: "unknown field"),
            FieldError(field: "player_id", message: "must be a string of 1 to 128 characters"),
            FieldError(field: "currency", message: "must be an ISO 4217 code in upper case, like USD"),
            FieldError(field: "country", message: "must be an ISO 3166-1 alpha-2 code, like DE"),
            FieldError(field: "return_url", message: "must be an https URL of at most 2048 characters"),
            FieldError(field: "items[0].sku", message: "must be a string of 1 to 128 characters"),
            FieldError(field: "items[0].quantity", message: "must be an integer from 1 to 1000"),
            FieldError(field: "items[0].unit_amount_minor", message: "must be an integer from 1 to 100000000 (minor units)"),
            FieldError(field: "items[1].quantity", message: "must be an integer from 1 to 1000"),
            FieldError(field: "items[1].unit_amount_minor", message: "must be an integer from 1 to 100000000 (minor units)"),
        ])) { try validate(body) }
    }

    @Test func missingFieldsAndMalformedBodies() {
        #expect(throws: CheckoutValidationError.invalid([
            FieldError(field: "player_id", message: "required"), FieldError(field: "currency", message: "required"),
            FieldError(field: "return_url", message: "required"), FieldError(field: "items", message: "required"),
        ])) { try validate("{}") }
        #expect(throws: CheckoutValidationError.malformed("the body must be a JSON object")) { try validate("[1,2]") }
        #expect(throws: CheckoutValidationError.malformed("the body must be a JSON object")) { try validate("{\"player_id\":") }
    }

    @Test func tooManyItemsAndUnknownItemFieldsAreRefused() {
        #expect(throws: CheckoutValidationError.invalid([FieldError(field: "items[0].title", message: "unknown field")])) {
            try validate(#"{"player_id":"p","items":[{"sku":"big","quantity":1,"title":"free"}],"currency":"USD","return_url":"https://h.example/"}"#)
        }
        let many = (0..<101).map { _ in #"{"sku":"s","quantity":1,"unit_amount_minor":1}"# }.joined(separator: ",")
        #expect(throws: CheckoutValidationError.invalid([FieldError(field: "items", message: "must be a list of 1 to 100 items")])) {
            try validate(#"{"player_id":"p","items":[\#(many)],"currency":"USD","return_url":"https://h.example/"}"#)
        }
    }
}

@Suite struct IdempotencyTests {
    @Test func keysAreBoundedVisibleASCII() {
        #expect(Idempotency.validateKey("a1b2-c3") == "a1b2-c3")
        #expect(Idempotency.validateKey(String(repeating: "k", count: 255)) != nil)
        #expect(Idempotency.validateKey(String(repeating: "k", count: 256)) == nil)
        #expect(Idempotency.validateKey("") == nil)
        #expect(Idempotency.validateKey(nil) == nil)
        #expect(Idempotency.validateKey("has space") == nil)
    }

    @Test func fingerprintCoversMethodPathAndBody() {
        let base = Idempotency.fingerprint(method: "POST", path: "/v1/checkout/t/orders", body: Array("{}".utf8))
        #expect(base.count == 64)
        #expect(base == Idempotency.fingerprint(method: "post", path: "/v1/checkout/t/orders", body: Array("{}".utf8)))
        #expect(base != Idempotency.fingerprint(method: "POST", path: "/v1/checkout/u/orders", body: Array("{}".utf8)))
        #expect(base != Idempotency.fingerprint(method: "POST", path: "/v1/checkout/t/orders", body: Array("{ }".utf8)))
    }

    @Test func decisions() {
        let response = Idempotency.StoredResponse(status: 201, headers: ["Content-Type": "application/json"], body: Array("{}".utf8))
        #expect(Idempotency.decide(record: nil, fingerprint: "a") == .proceed)
        #expect(Idempotency.decide(record: .inFlight(fingerprint: "a"), fingerprint: "a") == .inProgress)
        #expect(Idempotency.decide(record: .inFlight(fingerprint: "a"), fingerprint: "b") == .mismatch)
        #expect(Idempotency.decide(record: .completed(fingerprint: "a", response: response), fingerprint: "a") == .replay(response))
        #expect(Idempotency.decide(record: .completed(fingerprint: "a", response: response), fingerprint: "b") == .mismatch)
        #expect(response.isFinal)
        #expect(!Idempotency.StoredResponse(status: 503, headers: [:], body: []).isFinal)
    }
}

@Suite struct CircuitBreakerTests {
    static let second: Int64 = 1_000_000_000

    @Test func opensAfterThresholdFailuresInTheWindowThenProbes() {
        var breaker = CircuitBreaker()
        for index in 0..<4 {
            #expect(breaker.permit(now: Int64(index) * Self.second) == .allowed)
            breaker.record(success: false, now: Int64(index) * Self.second)
        }
        #expect(breaker.state == .closed(failures: [0, 1, 2, 3].map { $0 * Self.second }))
        breaker.record(success: false, now: 4 * Self.second)
        #expect(breaker.permit(now: 5 * Self.second) == .refused(retryAfter: 29 * Self.second))
        // After the open period one probe goes through; a second caller waits.
        #expect(breaker.permit(now: 34 * Self.second) == .allowed)
        #expect(breaker.permit(now: 34 * Self.second) == .refused(retryAfter: Self.second))
        breaker.record(success: true, now: 35 * Self.second)
        #expect(breaker.state == .closed(failures: []))
    }

    @Test func failuresOutsideTheWindowDoNotCount() {
        var breaker = CircuitBreaker()
        for index in 0..<10 {
            breaker.record(success: false, now: Int64(index) * 3 * Self.second)
        }
        #expect(breaker.permit(now: 30 * Self.second) == .allowed)
    }

    @Test func failedProbeReopens() {
        var options = CircuitBreaker.Options()
        options.failureThreshold = 1
        var breaker = CircuitBreaker(options: options)
        breaker.record(success: false, now: 0)
        #expect(breaker.permit(now: 30 * Self.second) == .allowed)
        breaker.record(success: false, now: 30 * Self.second)
        #expect(breaker.permit(now: 31 * Self.second) == .refused(retryAfter: 29 * Self.second))
    }
}

@Suite struct StripePaymentIntentsTests {
    @Test func createFormCarriesTheOrderAsMetadata() {
        let form = StripePaymentIntents.createForm(tenant: "demo", orderID: "ord_1 &x", amountMinor: 1999, currency: "EUR")
        let fields = Dictionary(FormEncoding.decode(form), uniquingKeysWith: { $1 })
        #expect(fields["amount"] == "1999")
        #expect(fields["currency"] == "eur")
        #expect(fields["metadata[order_id]"] == "ord_1 &x")
        #expect(fields["metadata[tenant]"] == "demo")
        #expect(form.contains("metadata[order_id]=ord_1%20%26x"))
    }

    @Test func outcomesAreClassified() {
        let opened = StripePaymentIntents.outcome(status: 200, body: Array(#"{"id":"pi_1","client_secret":"pi_1_secret_x"}"#.utf8))
        #expect(opened == .opened(OpenedPayment(provider: "stripe", id: "pi_1", clientSecret: "pi_1_secret_x")))
        let declined = StripePaymentIntents.outcome(status: 402, body: Array(#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"no"}}"#.utf8))
        #expect(declined == .declined(code: "insufficient_funds", message: "no"))
        #expect(StripePaymentIntents.outcome(status: 401, body: Array(#"{"error":{"type":"invalid_request_error"}}"#.utf8)) == .rejected(status: 401, code: "invalid_request_error"))
        #expect(StripePaymentIntents.outcome(status: 409, body: Array(#"{"error":{"type":"idempotency_error","code":"idempotency_key_reused"}}"#.utf8))
            == .rejected(status: 409, code: "idempotency_key_reused"))
        #expect(StripePaymentIntents.outcome(status: 409, body: Array(#"{"error":{"type":"idempotency_error","code":"idempotency_key_in_use"}}"#.utf8))
            == .transient("http 409 idempotency_key_in_use"))
        #expect(StripePaymentIntents.outcome(status: 503, body: []) == .transient("http 503 http_503"))
        #expect(StripePaymentIntents.outcome(status: 429, body: []) == .transient("http 429 http_429"))
        #expect(StripePaymentIntents.outcome(status: 200, body: Array("garbage".utf8)) == .transient("unreadable payment intent"))
    }

    @Test func retriesOnlyTransientOutcomesWithinTheDeadline() {
        let policy = UpstreamRetryPolicy(attempts: 3, baseDelay: .milliseconds(100))
        #expect(policy.delay(after: .transient("x"), attempt: 1, remaining: .seconds(5)) == .milliseconds(100))
        #expect(policy.delay(after: .transient("x"), attempt: 2, remaining: .seconds(5)) == .milliseconds(200))
        #expect(policy.delay(after: .transient("x"), attempt: 3, remaining: .seconds(5)) == nil, "attempts used up")
        #expect(policy.delay(after: .transient("x"), attempt: 1, remaining: .milliseconds(50)) == nil, "deadline")
        #expect(policy.delay(after: .declined(code: "d", message: "m"), attempt: 1, remaining: .seconds(5)) == nil)
        #expect(policy.delay(after: .rejected(status: 400, code: "c"), attempt: 1, remaining: .seconds(5)) == nil)
    }
}

@Suite struct CircuitBreakerPeekTests {
    @Test func openForReportsTheRemainingOpenTimeWithoutTakingAProbe() {
        var options = CircuitBreaker.Options()
        options.failureThreshold = 1
        options.openDuration = 1_000
        var breaker = CircuitBreaker(options: options)
        #expect(breaker.openFor(now: 0) == nil, "closed")
        #expect(breaker.permit(now: 0) == .allowed)
        breaker.record(success: false, now: 0)
        #expect(breaker.openFor(now: 400) == 600)
        #expect(breaker.openFor(now: 1_000) == nil, "the open time is over")
        #expect(breaker.state == .open(until: 1_000), "peeking changed nothing")
        #expect(breaker.permit(now: 1_000) == .allowed, "the probe is still there to take")
    }
}
