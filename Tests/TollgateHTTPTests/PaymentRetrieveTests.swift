import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing
import TollgateCheckout
import TollgateConfig
import TollgateCore
import TollgatePayments
import TollgateProviderSim
import TollgateTestSupport

/// The provider client against the in-process Stripe-shaped simulator: Stripe forgets an
/// idempotency key after 24 hours, so a create retried later opens a second payment, while a
/// retrieve by the payment's id finds the first one. No Postgres or Redis needed.
@Suite(.serialized) struct PaymentRetrieveTests {
    static let secretKey = "sk_test_retrieve"

    struct Fixture {
        let simulator: ProviderSimulator
        let client: PaymentProviderClient
        let http: HTTPClient
        let simulatorURL: String

        func control(_ path: String, method: HTTPMethod = .POST, body: String? = nil) async throws -> (Int, [String: Any]) {
            let (response, text) = try await http.fetch(simulatorURL + path, method: method, headers: [("Content-Type", "application/json")],
                                                        body: body.map { .bytes(ByteBuffer(string: $0)) })
            return (Int(response.status.code), try jsonObject(text))
        }
    }

    /// A simulator on a free port (no webhooks: nowhere to deliver them) and a client of it.
    static func withSimulator(breaker: CircuitBreaker.Options = .init(), _ body: (Fixture) async throws -> Void) async throws {
        var configuration = ProviderSimulator.Configuration()
        configuration.port = 0
        configuration.secretKey = secretKey
        var logger = Logger(label: "test.retrieve")
        logger.logLevel = .critical
        let simulator = ProviderSimulator(configuration: configuration, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await simulator.run() }
            defer { group.cancelAll() }
            try await TestEnvironment.waitUntil { simulator.boundPort.withLockedValue { $0 } != nil }
            let url = "http://127.0.0.1:\(simulator.boundPort.withLockedValue { $0 }!)"
            let client = PaymentProviderClient(
                tenant: "shop",
                settings: .init(baseURL: url, secretKey: Secret(secretKey), connectTimeout: .seconds(1), timeout: .seconds(3), attempts: 3),
                breaker: breaker, logger: logger
            )
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                try await body(Fixture(simulator: simulator, client: client, http: http, simulatorURL: url))
            } catch {
                await client.shutdown()
                try? await http.shutdown()
                throw error
            }
            await client.shutdown()
            try await http.shutdown()
        }
    }

    static func unique(_ prefix: String) -> String { prefix + UUID().uuidString.prefix(12).lowercased() }

    @Test func afterTheKeyExpiresACreateOpensASecondPaymentButARetrieveFindsTheFirst() async throws {
        try await Self.withSimulator { fixture in
            let orderID = Self.unique("ord_")
            let first = try await fixture.client.openPayment(orderID: orderID, amountMinor: 998, currency: "EUR")
            #expect(first.provider == "stripe")
            #expect(first.id.hasPrefix("pi_"))
            #expect(first.clientSecret?.hasPrefix(first.id + "_secret_") == true)

            // Within 24 hours the order id finds the same payment again (Stripe's replay)...
            let replay = try await fixture.client.openPayment(orderID: orderID, amountMinor: 998, currency: "EUR")
            #expect(replay == first)
            // ...and so does a retrieve by its id.
            #expect(try await fixture.client.retrievePayment(id: first.id) == first)

            // 25 hours later Stripe has forgotten the key.
            let (status, advanced) = try await fixture.control("/_sim/clock/advance", body: #"{"seconds": 90000}"#)
            #expect(status == 200)
            #expect(advanced["idempotency_keys_expired"] as? Int == 1)
            #expect((advanced["clock_offset_seconds"] as? NSNumber)?.doubleValue == 90000)

            let second = try await fixture.client.openPayment(orderID: orderID, amountMinor: 998, currency: "EUR")
            #expect(second.id != first.id, "the same order id opened a NEW payment: the simulator forgot the key, as Stripe does")
            #expect(second.clientSecret != nil && second.clientSecret != first.clientSecret)

            // Retrieving by the first payment's id still finds it, with its client secret.
            let retrieved = try await fixture.client.retrievePayment(id: first.id)
            #expect(retrieved == first)
            #expect(retrieved.clientSecret == first.clientSecret)

            let stats = fixture.simulator.statistics
            #expect(stats.requests == 3, "create requests")
            #expect(stats.replays == 1)
            #expect(stats.paymentIntentsCreated == 2)
            #expect(stats.paymentIntentsPerOrder[orderID] == 2, "the double payment that retrieving avoids")
            #expect(stats.retrieves == 2)
            #expect(stats.retrievesNotFound == 0)
            #expect(stats.idempotencyKeysExpired == 1)
            #expect(stats.idempotencyKeysForgotten == 0)
            #expect(stats.clockOffset == .seconds(90000))

            let (statsStatus, json) = try await fixture.control("/_sim/stats", method: .GET)
            #expect(statsStatus == 200)
            #expect(json["requests"] as? Int == 3)
            #expect(json["replays"] as? Int == 1)
            #expect(json["payment_intents_created"] as? Int == 2)
            #expect(json["orders_with_more_than_one_payment"] as? Int == 1)
            #expect(json["retrieves"] as? Int == 2)
            #expect(json["retrieves_not_found"] as? Int == 0)
            #expect(json["idempotency_keys_expired"] as? Int == 1)
            #expect(json["idempotency_keys_forgotten"] as? Int == 0)
            #expect((json["clock_offset_seconds"] as? NSNumber)?.doubleValue == 90000)
        }
    }

    @Test func keysLastTwentyFourHoursOfSimulatedTime() async throws {
        try await Self.withSimulator { fixture in
            let orderID = Self.unique("ord_")
            let first = try await fixture.client.openPayment(orderID: orderID, amountMinor: 500, currency: "USD")
            #expect(fixture.simulator.advanceClock(by: .seconds(23 * 3600)) == 0)
            #expect(try await fixture.client.openPayment(orderID: orderID, amountMinor: 500, currency: "USD") == first, "23 h: still replayed")
            #expect(fixture.simulator.advanceClock(by: .seconds(3600)) == 1, "24 h: expired")
            #expect(try await fixture.client.openPayment(orderID: orderID, amountMinor: 500, currency: "USD").id != first.id)
            #expect(fixture.simulator.statistics.paymentIntentsCreated == 2)
            #expect(fixture.simulator.statistics.replays == 1)
            #expect(fixture.simulator.simulatedTime >= .seconds(24 * 3600))

            let (status, answer) = try await fixture.control("/_sim/clock/advance", body: #"{"seconds": -5}"#)
            #expect(status == 400, "\(answer)")
            #expect(try await fixture.control("/_sim/clock/advance", body: #"{"minutes": 5}"#).0 == 400)
        }
    }

    @Test func forgetDropsEveryKeyAtOnce() async throws {
        try await Self.withSimulator { fixture in
            let orders = [Self.unique("ord_a_"), Self.unique("ord_b_")]
            var firsts: [OpenedPayment] = []
            for order in orders { firsts.append(try await fixture.client.openPayment(orderID: order, amountMinor: 100, currency: "EUR")) }
            let (status, answer) = try await fixture.control("/_sim/idempotency/forget")
            #expect(status == 200)
            #expect(answer["idempotency_keys_forgotten"] as? Int == 2)
            for (order, first) in zip(orders, firsts) {
                #expect(try await fixture.client.openPayment(orderID: order, amountMinor: 100, currency: "EUR").id != first.id)
                #expect(try await fixture.client.retrievePayment(id: first.id) == first)
            }
            #expect(fixture.simulator.forgetIdempotencyKeys() == 2, "the two new keys")
            let stats = fixture.simulator.statistics
            #expect(stats.paymentIntentsCreated == 4)
            #expect(stats.requests == 4)
            #expect(stats.replays == 0)
            #expect(stats.idempotencyKeysForgotten == 4)
            #expect(stats.idempotencyKeysExpired == 0)
            #expect(stats.retrieves == 2)
        }
    }

    @Test func anUnknownIdIsRejectedAndAMalformedOneIsNeverSent() async throws {
        try await Self.withSimulator { fixture in
            await #expect(throws: PaymentProviderClient.Failure.rejected(status: 404, code: "resource_missing")) {
                try await fixture.client.retrievePayment(id: "pi_doesnotexist000")
            }
            #expect(fixture.simulator.statistics.retrieves == 1, "a 404 is not retried")
            #expect(fixture.simulator.statistics.retrievesNotFound == 1)

            for bad in ["", "pi_", "ch_123", "pi_1/../../_sim/stats", "pi_1?expand[]=customer", "pi_1%2F", "pi_é", "../pi_1"] {
                await #expect(throws: PaymentProviderClient.Failure.rejected(status: 0, code: "invalid_payment_intent_id")) {
                    try await fixture.client.retrievePayment(id: bad)
                }
            }
            #expect(fixture.simulator.statistics.retrieves == 1, "no request for a malformed id")
            #expect(fixture.client.refusal() == nil, "rejections do not open the breaker")

            // The simulator's answers are Stripe's: the error shape for an unknown id, the key required.
            let (response, text) = try await fixture.http.fetch(fixture.simulatorURL + "/v1/payment_intents/pi_nope",
                                                                headers: [("Authorization", "Bearer \(Self.secretKey)")])
            #expect(response.status == .notFound)
            let error = try jsonObject(text)["error"] as? [String: Any]
            #expect(error?["type"] as? String == "invalid_request_error")
            #expect(error?["code"] as? String == "resource_missing")
            #expect(error?["param"] as? String == "intent")
            #expect(error?["message"] as? String == "No such payment_intent: 'pi_nope'")
            let (unauthorized, _) = try await fixture.http.fetch(fixture.simulatorURL + "/v1/payment_intents/pi_nope",
                                                                 headers: [("Authorization", "Bearer sk_test_other")])
            #expect(unauthorized.status == .unauthorized)
            #expect(fixture.simulator.statistics.retrieves == 2, "an unauthorized retrieve is not counted")
        }
    }

    @Test func retrieveSharesTheBreakerWithCreate() async throws {
        var options = CircuitBreaker.Options()
        options.failureThreshold = 2
        try await Self.withSimulator(breaker: options) { fixture in
            fixture.simulator.script([.error, .error, .error, .error, .error, .error])
            for _ in 0..<2 {
                await #expect(throws: PaymentProviderClient.Failure.self) {
                    try await fixture.client.openPayment(orderID: Self.unique("ord_"), amountMinor: 100, currency: "EUR")
                }
            }
            let refused: PaymentProviderClient.Failure?
            do throws(PaymentProviderClient.Failure) {
                _ = try await fixture.client.retrievePayment(id: "pi_anything")
                refused = nil
            } catch {
                refused = error
            }
            guard case .circuitOpen = refused else {
                Issue.record("expected the open breaker to refuse the retrieve, got \(String(describing: refused))")
                return
            }
            #expect(fixture.simulator.statistics.retrieves == 0)
        }
    }
}
