import Testing
import TollgateCheckout

@Suite struct CheckoutOrderValidatorTests {
    let validator = CheckoutOrderValidator(maximumTotalMinor: 50_000)

    func validate(_ json: String) throws(CheckoutValidationError) -> CheckoutOrder {
        try validator.validate(Array(json.utf8))
    }

    @Test func validOrderParses() throws {
        let order = try validate(#"{"player_id":"p1","items":[{"sku":"gems-100","quantity":2,"unit_amount_minor":499}],"currency":"EUR","country":"DE","return_url":"https://hub.example/done"}"#)
        #expect(order.totalMinor == 998)
        #expect(order.items == [.init(sku: "gems-100", quantity: 2, unitAmountMinor: 499)])
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

    @Test func totalAboveTheTenantCeilingAndTooManyItemsAreRefused() {
        #expect(throws: CheckoutValidationError.invalid([FieldError(field: "items", message: "the order total 100000 exceeds this store's maximum 50000")])) {
            try validate(#"{"player_id":"p","items":[{"sku":"big","quantity":1000,"unit_amount_minor":100}],"currency":"USD","return_url":"https://h.example/"}"#)
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
