import Benchmark
import Crypto
import Foundation
import TollgateCore
import TollgateOrders
import TollgateProviderEvents
import TollgateRateLimits
import TollgateSignatures

/// The pure work the edge does per callback: verify the signature, normalize the body, decide
/// the rate limit, step the order state machine. Each signature benchmark has a baseline in the
/// same run: one bare HMAC-SHA256 over the same bytes, so figures read as ratios.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(2), maxIterations: 200_000)

    let secrets: [Provider: String] = [
        .stripe: "whsec_bench", .standardWebhooks: "whsec_YmVuY2gta2V5LWZvci1zdGFuZGFyZA==",
        .adyen: "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF", .paddle: "pdl_bench",
        .xsolla: "xsolla-bench", .checkout: "cko-bench",
    ]
    let now = Date()
    for provider in Provider.allCases {
        let secret = Secret(secrets[provider]!)
        let callback = ProviderCallback(kind: .paymentSucceeded, orderID: "ord_bench_1", eventID: provider.eventIDsAreDigits ? "12345678" : "evt_bench_1",
                                        paymentID: "pay_bench_1", amountMinor: 1999, currency: "USD", occurredAt: now)
        let signed = callback.signed(by: WebhookSigner(provider: provider, secret: secret))!
        let request = SignedRequest(headers: signed.headers, body: signed.body)
        let scheme = provider.signatureScheme(secrets: [secret])
        let headers = Dictionary(signed.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        let normalizer = PaymentEventNormalizer(tenant: "bench", source: provider.rawValue, provider: provider)

        Benchmark("verify \(provider.rawValue)") { benchmark in
            for _ in benchmark.scaledIterations { try await scheme.verify(request, now: now) }
        }
        Benchmark("normalize \(provider.rawValue)") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try normalizer.normalize(headers: headers, body: signed.body)) }
        }
    }

    let body = ProviderCallback(kind: .paymentSucceeded, orderID: "ord_bench_1", eventID: "evt_bench_1", paymentID: "pay_bench_1",
                                amountMinor: 1999, currency: "USD", occurredAt: now).body(for: "stripe")!
    let key = SymmetricKey(data: Array("whsec_bench".utf8))
    Benchmark("baseline: one HMAC-SHA256 of a Stripe body") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(HMAC<SHA256>.authenticationCode(for: body, using: key)) }
    }

    let limits = [GCRALimit(rate: Rate(count: 500, period: .seconds(1)), burst: 1000), GCRALimit(rate: Rate(count: 10, period: .seconds(60)), burst: 5)]
    Benchmark("GCRA decideAll (2 rules)") { benchmark in
        var tats: [Int64?] = [nil, nil]
        var clock: Int64 = 1_000_000_000
        for _ in benchmark.scaledIterations {
            clock += 1_000_000
            let decisions = GCRA.decideAll(tats: tats, now: clock, limits: limits)
            tats = decisions.map(\.newTAT)
            blackHole(decisions)
        }
    }

    let order = OrderState(status: .pendingPayment, amountMinor: 1999, currency: "USD")
    let paid = OrderEvent(kind: .paymentSucceeded, amountMinor: 1999, currency: "USD")
    let refund = OrderEvent(kind: .refundSucceeded, amountMinor: 100, currency: "USD")
    Benchmark("state machine: pay then refund") { benchmark in
        for _ in benchmark.scaledIterations {
            guard case .applied(let next) = OrderStateMachine.apply(paid, to: order) else { continue }
            blackHole(OrderStateMachine.apply(refund, to: next))
        }
    }
}
