import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing
import TollgateConfig
import TollgateCore
import TollgateFulfilment
import TollgateGameBackendSim
import TollgateSignatures
import TollgateTestSupport

/// Fulfilment through the running edge: the whole journey (checkout, the provider's callback,
/// paid, the grant delivered to the game), and the game's word on a player before checkout sells
/// or Xsolla takes money: allowed, banned, unknown, and a game that does not answer either way.
@Suite(.serialized) struct FulfilmentEdgeTests {
    static let secret = Secret("whsec_" + Data("tollgate-edge-fulfilment-secret".utf8).base64EncodedString())
    static let xsollaSecret = "edge-fulfilment-xsolla-secret"

    static func backend(url: String, verification: GameBackendSettings.PlayerVerification?) -> GameBackendSettings {
        GameBackendSettings(tenant: CheckoutTests.tenant, url: url, secrets: [secret], timeout: .seconds(5),
                            retrySchedule: RetrySchedule(delays: [.milliseconds(100), .milliseconds(100)]), playerVerification: verification)
    }

    /// The simulator on a free loopback port, its `POST /tollgate` URL given to `body`.
    static func withGame<T: Sendable>(_ script: GameBackendSimulator.Script = .init(), _ body: (GameBackendSimulator, String) async throws -> T) async throws -> T {
        var logger = Logger(label: "test.game")
        logger.logLevel = .warning
        let simulator = GameBackendSimulator(secrets: [secret], script: script, logger: logger)
        return try await GameBackendFixture.withSimulator(simulator) { url in try await body(simulator, url) }
    }

    func order(_ fixture: CheckoutTests.Fixture, player: String) async throws -> (HTTPClientResponse, [String: Any]) {
        let (response, text) = try await CheckoutTests().post(fixture, player: player, key: CheckoutTests.unique("key-"),
                                                              body: CheckoutTests.orderBody(player: player, quantity: 2, unit: nil))
        return (response, (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:])
    }

    /// The README's journey: a Game Hub checkout, the provider's callback, the order paid, and
    /// its grant (the lines the catalog priced, for the player) acknowledged by the game once.
    @Test func aCheckoutEndsWithTheGrantDeliveredToTheGame() async throws {
        try await Self.withGame { game, url in
            try await CheckoutTests.withCheckout(gameBackend: Self.backend(url: url, verification: nil)) { fixture in
                let player = CheckoutTests.unique("p_")
                let (response, body) = try await order(fixture, player: player)
                #expect(response.status == .created, "\(body)")
                let orderID = try #require(body["order_id"] as? String)
                try await TestEnvironment.waitUntil(timeout: .seconds(20)) { game.order(orderID)?.granted == true }
                let grants = game.deliveries.filter { $0.orderID == orderID }
                #expect(grants.map(\.type.rawValue) == ["order.paid"] && grants.first?.playerID == player)
                #expect(try await CheckoutTests().sql("SELECT status FROM deliveries WHERE order_id = '\(orderID)'") == "delivered")
                #expect(game.statistics.rejectedSignature == 0 && game.statistics.duplicates == 0)
            }
        }
    }

    /// Checkout asks the game first: an allowed player buys (and is not asked about again while
    /// the answer is cached); a banned or unknown one gets 403 problem+json and no order exists.
    @Test func checkoutAsksTheGameAboutThePlayer() async throws {
        try await Self.withGame(.init(unknownPlayers: ["p_unknown"], bannedPlayers: ["p_banned"])) { game, url in
            let verification = GameBackendSettings.PlayerVerification(timeout: .seconds(2), onTimeout: .refuse, cacheFor: .seconds(60))
            try await CheckoutTests.withCheckout(gameBackend: Self.backend(url: url, verification: verification)) { fixture in
                let player = CheckoutTests.unique("p_")
                let (first, _) = try await order(fixture, player: player)
                let (second, _) = try await order(fixture, player: player)
                #expect(first.status == .created && second.status == .created)
                #expect(game.statistics.playerVerifications == 1, "the second checkout used the cached answer")

                for (refused, reason) in [("p_banned", "banned"), ("p_unknown", "unknown")] {
                    let (response, problem) = try await order(fixture, player: refused)
                    #expect(response.status == .forbidden && response.headers["content-type"].first == "application/problem+json")
                    #expect(problem["type"] as? String == "urn:tollgate:problem:player-not-allowed" && problem["reason"] as? String == reason)
                    #expect(try await CheckoutTests().orderCount(player: refused) == 0)
                }
            }
        }
    }

    /// A game that does not answer in time: a tenant that refuses then answers 503 (retry) and
    /// makes no order; one that allows sells.
    @Test(arguments: [GameBackendSettings.PlayerVerification.OnTimeout.refuse, .allow])
    func aGameThatDoesNotAnswerIsTheTenantsChoice(onTimeout: GameBackendSettings.PlayerVerification.OnTimeout) async throws {
        try await Self.withGame(.init(slowMilliseconds: 1500)) { _, url in
            let verification = GameBackendSettings.PlayerVerification(timeout: .milliseconds(200), onTimeout: onTimeout, cacheFor: .seconds(60))
            try await CheckoutTests.withCheckout(gameBackend: Self.backend(url: url, verification: verification)) { fixture in
                let player = CheckoutTests.unique("p_")
                let (response, body) = try await order(fixture, player: player)
                switch onTimeout {
                case .refuse:
                    #expect(response.status == .serviceUnavailable && response.headers["retry-after"].first == "5", "\(body)")
                    #expect(try await CheckoutTests().orderCount(player: player) == 0)
                case .allow:
                    #expect(response.status == .created, "\(body)")
                }
            }
        }
    }

    /// Xsolla's user_validation (its real sandbox capture) is answered from the same check:
    /// 204 for a player the game knows, 400 INVALID_USER for one it has banned; a forged one is
    /// refused before the game is asked.
    @Test func xsollaUserValidationIsAnsweredByTheGame() async throws {
        let fixturePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/provider-payloads/xsolla/user_validation.json")
        let body = Array(try Data(contentsOf: fixturePath))
        let user = "a1b2c3d4-0000-4000-8000-019fb6caa51e"
        try await Self.withGame { game, url in
            let verification = GameBackendSettings.PlayerVerification(timeout: .seconds(2), onTimeout: .refuse, cacheFor: .zero)
            let xsolla = WebhookSource(tenant: CheckoutTests.tenant, name: "xsolla", provider: .xsolla, secrets: [Secret(Self.xsollaSecret)])
            try await CheckoutTests.withCheckout(sources: [xsolla], gameBackend: Self.backend(url: url, verification: verification)) { fixture in
                let endpoint = fixture.edge.edge + "/v1/webhooks/\(CheckoutTests.tenant)/xsolla"
                func send(_ signer: WebhookSigner) async throws -> (HTTPClientResponse, String) {
                    let signed = signer.sign(body: body, timestamp: Int64(Date().timeIntervalSince1970), id: "uv")
                    return try await fixture.client.fetch(endpoint, method: .POST, headers: signed.headers.map { ($0.name, $0.value) }, body: .bytes(ByteBuffer(bytes: signed.body)))
                }
                let (allowed, allowedText) = try await send(WebhookSigner(provider: .xsolla, secret: Secret(Self.xsollaSecret)))
                #expect(allowed.status == .noContent, "\(allowedText)")

                game.script = .init(bannedPlayers: [user])
                let (banned, bannedText) = try await send(WebhookSigner(provider: .xsolla, secret: Secret(Self.xsollaSecret)))
                #expect(banned.status == .badRequest && bannedText.contains("\"INVALID_USER\""), "\(bannedText)")
                #expect(game.statistics.playerVerifications == 2)

                let (forged, _) = try await send(WebhookSigner(provider: .xsolla, secret: Secret("not-the-secret")))
                #expect(forged.status == .badRequest && game.statistics.playerVerifications == 2, "refused on the signature, the game not asked")
            }
        }
    }
}
