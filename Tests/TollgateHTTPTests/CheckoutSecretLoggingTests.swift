import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing
import TollgateProviderSim
import TollgateTelemetry
import TollgateTestSupport

/// "The provider secret key never reaches logs": the edge's whole log, at trace level and through
/// the production JSON handler, while the provider declines, fails, hangs and refuses the key.
/// (AsyncHTTPClient's own logging is off in the payment client, so what is checked is every line
/// the edge writes.)
@Suite(.serialized) struct CheckoutSecretLoggingTests {
    /// Every line the edge logged, as `JSONLogHandler` wrote it.
    final class CapturedLog: Sendable {
        private let lines = NIOLockedValueBox<[String]>([])
        var all: [String] { lines.withLockedValue { $0 } }

        func logger() -> Logger {
            let output = JSONLogOutput { line in self.lines.withLockedValue { $0.append(line) } }
            var logger = Logger(label: "test.edge") { JSONLogHandler(label: $0, output: output) }
            logger.logLevel = .trace
            return logger
        }
    }

    func order(_ fixture: CheckoutTests.Fixture) async throws -> UInt {
        let player = CheckoutTests.unique("p_")
        let (response, _) = try await CheckoutTests().post(fixture, player: player, key: CheckoutTests.unique("key-"), body: CheckoutTests.orderBody(player: player))
        return response.status.code
    }

    @Test func theSecretKeyIsInNoLogLineWhateverTheProviderAnswers() async throws {
        let log = CapturedLog()
        var secretKeys: Set<String> = []

        try await CheckoutTests.withCheckout(paymentsTimeout: .seconds(1), attempts: 2, simulator: { $0.hangDuration = .milliseconds(1500) },
                                             edgeLogger: log.logger()) { fixture in
            secretKeys.insert(try #require(fixture.catalog.checkout[CheckoutTests.tenant]).payments.secretKey.exposedValue)
            fixture.simulator.script([.decline, .error, .error, .timeout])
            #expect(try await order(fixture) == 402, "declined")
            #expect(try await order(fixture) == 502, "500 on both attempts")
            #expect(try await order(fixture) == 504, "no answer within payments.timeout")
        }
        // A provider that refuses the key (Stripe's 401 api_key_invalid, whose message can quote the key).
        try await CheckoutTests.withCheckout(simulator: { $0.secretKey = "sk_test_a_key_the_tenant_does_not_have" },
                                             edgeLogger: log.logger()) { fixture in
            secretKeys.insert(try #require(fixture.catalog.checkout[CheckoutTests.tenant]).payments.secretKey.exposedValue)
            let status = try await order(fixture)
            #expect(status >= 500, "rejected: \(status)")
        }

        let lines = log.all
        // The failures were logged, so the check below looked at the lines that matter.
        #expect(lines.contains { $0.contains("provider unavailable") }, "\(lines.count) lines")
        #expect(lines.contains { $0.contains("provider rejected the payment request") })
        #expect(!secretKeys.isEmpty && !secretKeys.contains(""))
        for key in secretKeys {
            let leaks = lines.filter { $0.contains(key) }
            #expect(leaks.isEmpty, "the secret key is in \(leaks.count) log line(s): \(leaks.prefix(3))")
        }
        #expect(!lines.contains { $0.contains("Bearer ") }, "no Authorization header value")
    }
}
