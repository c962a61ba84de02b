import Foundation
import Testing
import TollgateCore
import TollgateFulfilment
import TollgateGameBackendSim
import TollgateOrders
import TollgateSignatures

/// The game backend simulator's pure state (``GameBackendState``): requests in, answers and
/// counters out, no server. What the load verifier and the outbox tests rely on: each webhook-id
/// applied once, revokes before grants counted, the documented decline, and scripted faults that
/// apply nothing.
@Suite struct GameBackendSimulatorStateTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func order(_ orderID: String = "ord_1", player: String? = "player_1") -> DeliveredOrder {
        DeliveredOrder(tenant: "demo", orderID: orderID, playerID: player, status: "paid", amountMinor: 1000, currency: "USD",
                       lines: [.init(sku: "gems_500", quantity: 1)], payment: .init(provider: "stripe", id: "pi_1"))
    }

    static func delivery(_ webhookID: String, _ type: DeliveryType, _ order: DeliveredOrder = GameBackendSimulatorStateTests.order()) -> ReceivedRequest {
        .delivery(webhookID: webhookID, type: type, order: order)
    }

    /// Sends `requests` in order to `state`, failures drawn from a SplitMix64 seeded with 1.
    static func send(_ requests: [ReceivedRequest], to state: inout GameBackendState) -> [SimulatorAnswer] {
        var random = SplitMix64(seed: 1)
        return requests.map { state.receive($0, at: now, random: &random) }
    }

    /// A repeated webhook-id (the edge retrying after a lost answer) gets the first answer again
    /// and changes nothing: one grant, one duplicate.
    @Test func aWebhookIDIsAppliedOnceAndItsRepeatIsCountedAsADuplicate() throws {
        var state = GameBackendState()
        let answers = Self.send([Self.delivery("msg_1", .orderPaid), Self.delivery("msg_1", .orderPaid)], to: &state)
        #expect(answers.map(\.status) == [200, 200])
        #expect(answers[0] == answers[1], "the repeat is answered as the first time")
        #expect(answers[0].body == .object([("webhook_id", .string("msg_1")), ("outcome", .string("applied"))]))
        #expect(state.statistics.received == 2)
        #expect(state.statistics.applied == 1)
        #expect(state.statistics.duplicates == 1)
        #expect(state.statistics.grants == 1 && state.statistics.grantsWhileGranted == 0)
        #expect(state.statistics.orders == 1)
        #expect(state.deliveries.map(\.webhookID) == ["msg_1"])
        let record = try #require(state.orders["ord_1"])
        #expect(record.granted && record.hasBeenGranted)
        #expect(record.events.count == 1)
    }

    /// A second grant under another webhook-id is a new delivery, and counted as items given twice.
    @Test func aSecondGrantUnderAnotherIDIsCountedAsGrantedWhileGranted() {
        var state = GameBackendState()
        _ = Self.send([Self.delivery("msg_1", .orderPaid), Self.delivery("msg_2", .orderReinstated)], to: &state)
        #expect(state.statistics.applied == 2)
        #expect(state.statistics.duplicates == 0)
        #expect(state.statistics.grantsWhileGranted == 1)
    }

    /// A revoke that reaches the game before any grant of its order is applied (a careful backend
    /// answers 200) but counted, so an ordering bug in the edge shows in the statistics.
    @Test func aRevokeBeforeAnyGrantIsCountedInRevokesBeforeGrant() throws {
        var state = GameBackendState()
        let answers = Self.send([Self.delivery("msg_r1", .orderRefunded), Self.delivery("msg_p", .orderPaid), Self.delivery("msg_r2", .orderChargedBack)],
                                to: &state)
        #expect(answers.map(\.status) == [200, 200, 200])
        #expect(state.statistics.revokes == 2)
        #expect(state.statistics.revokesBeforeGrant == 1, "only the revoke that came before the grant")
        #expect(state.statistics.grants == 1)
        let record = try #require(state.orders["ord_1"])
        #expect(!record.granted && record.hasBeenGranted)
        #expect(record.events.map(\.type) == [.orderRefunded, .orderPaid, .orderChargedBack])
    }

    /// A grant for a listed player is declined with the contract's 422 body, which the edge reads
    /// as a decline; its repeat gets the same answer and is not declined twice. Revokes are not declined.
    @Test func aGrantForADeclinedPlayerIsAnswered422WithTheDeclineBodyEveryTime() throws {
        var state = GameBackendState(script: .init(declinePlayers: ["banned_1"]))
        let banned = Self.order(player: "banned_1")
        let answers = Self.send([Self.delivery("msg_1", .orderPaid, banned), Self.delivery("msg_1", .orderPaid, banned),
                                 Self.delivery("msg_2", .orderRefunded, banned)], to: &state)
        let declined = answers[0]
        #expect(declined.status == 422)
        #expect(declined.body == .object([("decline", .object([("reason", .string("player_banned"))]))]))
        #expect(declined.body.serialized == #"{"decline":{"reason":"player_banned"}}"#)
        #expect(answers[1] == declined, "the repeat is answered as the first time")
        #expect(answers[2].status == 200, "only a grant can be declined")
        #expect(state.statistics.declined == 1)
        #expect(state.statistics.duplicates == 1)
        #expect(state.statistics.grants == 0)
        #expect(state.deliveries.map(\.outcome) == [.declined, .applied])
        #expect(state.orders["ord_1"]?.granted == false)
        // The edge's classifier reads the simulator's answer as the documented decline.
        let verdict = DeliveryVerdict.classify(status: declined.status, headers: [], body: Array(declined.body.serialized.utf8), event: .orderPaid)
        #expect(verdict == .declined(reason: "player_banned"))
        // Another player's grant goes through.
        let other = Self.send([Self.delivery("msg_3", .orderPaid, Self.order("ord_2"))], to: &state)
        #expect(other.map(\.status) == [200])
    }

    /// fail_percent 100 answers every delivery with the scripted status (429 with its Retry-After)
    /// before anything is applied: not recorded, not a duplicate, and applied for the first time
    /// once the fault is lifted.
    @Test func failPercent100AnswersTheScriptedStatusAndAppliesNothing() {
        var state = GameBackendState(script: .init(failPercent: 100, status: 429, retryAfter: 30))
        let answers = Self.send([Self.delivery("msg_1", .orderPaid), Self.delivery("msg_1", .orderPaid)], to: &state)
        #expect(answers.map(\.status) == [429, 429])
        #expect(answers.map(\.retryAfterSeconds) == [30, 30])
        #expect(state.statistics.failedInjected == 2)
        #expect(state.statistics.failedInjectedByStatus == [429: 2])
        #expect(state.statistics.applied == 0 && state.statistics.duplicates == 0 && state.statistics.grants == 0)
        #expect(state.deliveries.isEmpty)
        #expect(state.orders.isEmpty)

        state.script.failPercent = 0
        let after = Self.send([Self.delivery("msg_1", .orderPaid)], to: &state)
        #expect(after.map(\.status) == [200])
        #expect(state.statistics.applied == 1 && state.statistics.duplicates == 0, "the failed attempts left no trace")
    }

    /// Retry-After belongs to 429 and 503: a scripted 500 carries none, even if the script sets one.
    @Test func anInjected500CarriesNoRetryAfter() {
        var state = GameBackendState(script: .init(failPercent: 100, status: 500, retryAfter: 30))
        let answers = Self.send([Self.delivery("msg_1", .orderPaid)], to: &state)
        #expect(answers.map(\.status) == [500])
        #expect(answers.first?.retryAfterSeconds == nil)
        #expect(state.statistics.applied == 0)
    }

    /// A backend that retired its endpoint answers 410 to everything, and applies nothing.
    @Test func aGoneBackendAnswers410AndAppliesNothing() {
        var state = GameBackendState(script: .init(gone: true))
        let answers = Self.send([Self.delivery("msg_1", .orderPaid), Self.delivery("msg_2", .orderRefunded)], to: &state)
        #expect(answers.map(\.status) == [410, 410])
        #expect(state.statistics.applied == 0)
        #expect(state.statistics.failedInjectedByStatus == [410: 2])
        #expect(state.deliveries.isEmpty)
    }

    /// A request whose signature did not verify is refused 401 and nothing in it is trusted.
    @Test func aForgedRequestIsAnswered401AndAppliesNothing() {
        var state = GameBackendState()
        let answers = Self.send([.forged(.signatureMismatch), .forged(.missingHeader)], to: &state)
        #expect(answers.map(\.status) == [401, 401])
        #expect(state.statistics.rejectedSignature == 2)
        #expect(state.statistics.received == 2)
        #expect(state.statistics.applied == 0)
        #expect(state.deliveries.isEmpty)
    }

    /// An unsigned request reaching the simulator is read as forged, whatever its body says.
    @Test func anUnsignedRequestIsReadAsForged() async {
        let scheme = StandardWebhooksSignatureScheme(secrets: [Secret("whsec_" + Data(repeating: 7, count: 32).base64EncodedString())])
        let body = Array(#"{"type":"order.paid","timestamp":"2027-01-15T08:00:00Z","data":{}}"#.utf8)
        let received = await ReceivedRequest.read(SignedRequest(headers: [("webhook-id", "msg_1")], body: body), verifiedBy: scheme, now: Self.now)
        guard case .forged = received else {
            Issue.record("an unsigned request must be forged, got \(received)")
            return
        }
        var state = GameBackendState()
        let answers = Self.send([received], to: &state)
        #expect(answers.map(\.status) == [401])
    }
}
