import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TollgateCore
import TollgateLoad
import TollgateOrders
import TollgateSignatures
import TollgateTestSupport

@Suite struct ScenarioTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("loadtests/scenarios")

    @Test(arguments: ["smoke", "webhook-storm", "checkout-burst", "mixed", "soak", "fulfilment"])
    func shippedScenarioParses(name: String) throws {
        let path = Self.directory.appendingPathComponent("\(name).yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("# \(name):"), "each scenario is documented at the top of its file")
        let scenario = try ScenarioParser.parse(text, file: path)
        #expect(scenario.name == name)
        #expect(!scenario.thresholds.isEmpty)
        #expect(!scenario.mix.isEmpty)
        #expect((scenario.gameSimulator != nil) == (name == "fulfilment"), "only the fulfilment scenario checks a game backend")
    }

    @Test func smokeCoversEveryRequestKind() throws {
        let scenario = try ScenarioParser.parse(String(contentsOfFile: Self.directory.appendingPathComponent("smoke.yaml").path, encoding: .utf8))
        #expect(Set(scenario.mix.map(\.kind)) == Set(RequestKind.allCases))
        #expect(scenario.duration == .seconds(10))
    }

    @Test func problemsNameTheirLine() {
        let text = "name: x\nrate: fast\n"
        #expect(throws: ScenarioError("scenario.yaml:2:7: rate must be a positive number")) { try ScenarioParser.parse(text) }
        #expect(throws: ScenarioError.self) { try ScenarioParser.parse("name: x\nmix:\n  - { kind: teleport, weight: 1 }\n") }
        #expect(throws: ScenarioError.self) { try ScenarioParser.parse("name: x\nthresholds: [\"p98 < 1ms\"]\n") }
        #expect(throws: ScenarioError.self) { try ScenarioParser.parse("name: x\ncolour: red\n") }
    }

    @Test func presignIsForOpenLoopWebhookScenariosThatFitInMemory() throws {
        #expect(try ScenarioParser.parse("name: x\npresign: true\n").presign)
        #expect(throws: ScenarioError("scenario.yaml:3:10: presign needs mode: open (a closed loop has no planned send times)")) {
            try ScenarioParser.parse("name: x\nmode: closed\npresign: true\n")
        }
        #expect(throws: ScenarioError("scenario.yaml:2:10: presign cannot plan status requests ahead: they depend on earlier answers")) {
            try ScenarioParser.parse("name: x\npresign: true\nmix:\n  - { kind: webhook, weight: 1 }\n  - { kind: status, weight: 1 }\n")
        }
        #expect(throws: ScenarioError.self) { try ScenarioParser.parse("name: x\npresign: yes please\n") }
        // A command-line override can make a run too large to hold signed.
        var scenario = try ScenarioParser.parse("name: x\nrate: 200\nduration: 60s\npresign: true\n")
        #expect(scenario.presignProblem == nil)
        scenario.duration = .seconds(1800)
        #expect(scenario.presignProblem == "presign holds every request in memory: at most 200000, this run plans 360000")
    }

    @Test func rampStagesInterpolateThenHold() throws {
        let scenario = try ScenarioParser.parse("name: ramp\nstages:\n  - { rate: 100, duration: 10s }\n  - { rate: 100, duration: 5s }\n  - { rate: 300, duration: 1s }\n")
        #expect(scenario.plannedRate(at: .seconds(0)) == 0)
        #expect(scenario.plannedRate(at: .seconds(5)) == 50)
        #expect(scenario.plannedRate(at: .seconds(12)) == 100)
        #expect(scenario.plannedRate(at: .milliseconds(15_500)) == 200)
        #expect(scenario.plannedRate(at: .seconds(20)) == 300)
        #expect(scenario.totalDuration == .seconds(16))
        #expect(scenario.plannedCount == 500 + 500 + 200, "ramp 0->100 over 10 s, 100 for 5 s, ramp 100->300 over 1 s")
    }
}

@Suite struct ThresholdTests {
    @Test func parsesUnitsAndKinds() throws {
        let p99 = try #require(Threshold("p99 < 50ms"))
        #expect(p99.metric == .p99 && p99.value == 50 && p99.kind == nil)
        #expect(Threshold("webhook.p99.9 <= 1s")?.value == 1000)
        #expect(Threshold("webhook.p99.9 <= 1s")?.kind == .webhook)
        #expect(Threshold("errors < 0.1%")?.value == 0.1)
        #expect(Threshold("rate > 1000/s")?.value == 1000)
        #expect(Threshold("p99 < 250us")?.value == 0.25)
        #expect(Threshold("p99 50ms") == nil)
        #expect(Threshold("p99 < fast") == nil)
    }

    @Test func evaluatesAgainstMeasurements() throws {
        let summary = LatencySummary(count: 1000, errors: 2, p50: 3, p90: 8, p99: 40, p999: 90, max: 120, mean: 4)
        #expect(try #require(Threshold("p99 < 50ms")).holds(Threshold("p99 < 50ms")!.measured(in: summary, rate: 0)))
        let errors = try #require(Threshold("errors < 0.1%"))
        #expect(errors.measured(in: summary, rate: 0) == 0.2)
        #expect(!errors.holds(0.2))
        #expect(try #require(Threshold("rate >= 500")).holds(500))
    }
}

@Suite struct RecorderAndReportTests {
    func recorded() -> LoadRecorder {
        var recorder = LoadRecorder()
        // 1..1000 ms, one each, over 10 seconds; a few unexpected statuses.
        for value in 1...1000 {
            let kind: RequestKind = value % 10 == 0 ? .forged : .webhook
            let status = kind == .forged ? 401 : (value % 250 == 1 ? 503 : 200)
            recorder.record(kind, status: status, latency: .milliseconds(value), second: value / 100)
        }
        recorder.finish(at: 10)
        return recorder
    }

    @Test func percentilesCountsAndErrors() {
        let recorder = recorded()
        let all = recorder.summary(of: nil)
        #expect(all.count == 1000)
        #expect(abs(all.p50 - 500) <= 1, "HdrHistogram at 3 significant digits")
        #expect(abs(all.p99 - 990) <= 1)
        #expect(abs(all.max - 1000) <= 1)
        #expect(all.errors == 4, "the 503s; 401 is the right answer to a forgery")
        #expect(recorder.statuses(of: .forged) == [401: 100])
        #expect(recorder.seconds.count == 11)
        #expect(recorder.seconds[1].count == 100)
    }

    @Test func htmlReportIsWellFormedWithTheThreeCharts() throws {
        var scenario = Scenario(name: "report-test")
        scenario.thresholds = [Threshold("p99 < 2s")!, Threshold("errors < 0.1%")!]
        var results = LoadResults(scenario: scenario, recorder: recorded(), startedAt: Date(), seconds: 10)
        results.verification = Verification(checks: [.init(name: "no order paid twice", passed: true, detail: "12 orders paid; 0 paid more than once")])
        #expect(results.thresholds.map(\.passed) == [true, false])
        #expect(!results.passed)
        let html = HTMLReport.render(results)
        #expect(!html.contains("http://") || !html.contains("src="), "no external assets")
        let parsed = try ParsedHTML(html)
        #expect(parsed.svgIDs == ["latency-over-time", "percentile-distribution", "throughput-by-status"])
        #expect(parsed.polylines >= 3, "p50 and p99 over time, and the percentile curve")
        #expect(parsed.rects > 10, "one bar per second and status")
        #expect(parsed.tableRows == 1 + 2 + 1, "header, two kinds, total")
        #expect(results.table.contains("result: FAIL"))
        let json = try JSONSerialization.jsonObject(with: results.json()) as? [String: Any]
        #expect((json?["timeline"] as? [Any])?.count == 11)
    }
}

/// Reads the report with an XML parser: it must be well-formed, and we count what it draws.
final class ParsedHTML: NSObject, XMLParserDelegate {
    var svgIDs: [String] = []
    var polylines = 0
    var rects = 0
    var tableRows = 0

    init(_ html: String) throws {
        super.init()
        let parser = XMLParser(data: Data(html.replacingOccurrences(of: "<!DOCTYPE html>", with: "").utf8))
        parser.delegate = self
        guard parser.parse() else { throw parser.parserError ?? ScenarioError("unparseable") }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        switch name {
        case "svg": svgIDs.append(attributes["id"] ?? "")
        case "polyline": if !(attributes["points"] ?? "").isEmpty { polylines += 1 }
        case "rect": rects += 1
        case "tr": tableRows += 1
        default: break
        }
    }
}

/// The generator's requests are what providers send: its signer is checked byte for byte against
/// the SDK vectors (WebhookSignerTests); here every planned request is put through the edge's own
/// verification: genuine ones pass, forgeries fail on the signature, stale ones on the clock.
@Suite struct LoadPlanTests {
    static let secrets: [(String, String)] = [
        ("stripe", "whsec_plan_test"), ("standard", "whsec_cGxhbi10ZXN0LWtleQ=="),
        ("adyen", "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"), ("paddle", "pdl_plan"),
        ("xsolla", "xsolla-plan"), ("checkout", "cko-plan"),
    ]
    static func provider(_ source: String) -> Provider { Provider(rawValue: source == "standard" ? "standard-webhooks" : source)! }

    func plan(_ mix: [(RequestKind, Int)]) -> LoadPlan {
        var scenario = Scenario(name: "plan")
        scenario.mix = mix.map { Scenario.Weighted(kind: $0.0, weight: $0.1) }
        scenario.duplicateDelay = .zero
        let sources = Self.secrets.map { LoadSource(name: $0.0, provider: Self.provider($0.0), secret: Secret($0.1)) }
        let orders = (0..<60).map { LoadPlan.SeededOrder(id: "o\($0)", amountMinor: 1999, currency: "USD") }
        return LoadPlan(scenario: scenario, runID: "t1", sources: sources, orders: orders, players: [], seed: 42)
    }

    func verify(_ request: PlannedRequest) async -> VerificationFailure? {
        let source = String(request.path.split(separator: "/").last!)
        let scheme = Self.provider(source).signatureScheme(secrets: [Secret(Self.secrets.first { $0.0 == source }!.1)])
        do {
            try await scheme.verify(SignedRequest(headers: request.headers, body: request.body), now: Date())
            return nil
        } catch {
            return error
        }
    }

    @Test func genuineDuplicateAndOutOfOrderRequestsVerify() async throws {
        var plan = plan([(.webhook, 5), (.duplicate, 3), (.outOfOrder, 1)])
        var providers: Set<String> = []
        var storedIDs: [String: Int] = [:]
        for index in 0..<200 {
            let request = plan.next(at: .milliseconds(index * 10), now: Date())
            #expect(await verify(request) == nil, "\(request.kind) \(request.path)")
            providers.insert(String(request.path.split(separator: "/").last!))
            if request.kind == .webhook, case .genuineEvent(let source, let id) = request.note { storedIDs["\(source)|\(id)", default: 0] += 1 }
        }
        #expect(providers.count == 6)
        #expect(storedIDs.values.allSatisfy { $0 == 1 }, "each genuine event is new")
        #expect(plan.ledger.genuine.count >= storedIDs.count)
    }

    @Test func forgeriesFailOnTheSignatureAndStaleOnTheClock() async {
        var plan = plan([(.forged, 1), (.stale, 1)])
        for index in 0..<60 {
            let request = plan.next(at: .milliseconds(index), now: Date())
            let failure = await verify(request)
            switch request.kind {
            case .forged: #expect(failure == .signatureMismatch)
            case .stale: #expect(failure == .timestampTooOld)
            default: Issue.record("unexpected kind \(request.kind)")
            }
        }
        #expect(!plan.ledger.forged.isEmpty)
        #expect(plan.ledger.genuine.isEmpty)
    }

    /// Google Play pushes are a stream of their own beside the sources that pay the seeded
    /// orders: genuine ones verify under the source's trust, name a purchase and no order (so
    /// `--verify` finds them stored, waiting, and no order moved by them), some are voided and
    /// some redelivered; forged ones carry a token Google did not sign and are refused.
    @Test func googlePlayPushesAreAStreamOfTheirOwn() async throws {
        var scenario = Scenario(name: "play")
        scenario.mix = [.init(kind: .webhook, weight: 4), .init(kind: .duplicate, weight: 1), .init(kind: .forged, weight: 1)]
        scenario.duplicateDelay = .zero
        let audience = ProviderLifecycle.googleAudience, email = ProviderLifecycle.googleEmail, app = ProviderLifecycle.googlePackage
        let play = LoadSource(name: "play", signer: WebhookSigner(google: ProviderLifecycle.googleKey, audience: audience, email: email, packageName: app),
                              forger: WebhookSigner(google: nil, audience: audience, email: email, packageName: app))
        let stripe = LoadSource(name: "stripe", provider: .stripe, secret: Secret("whsec_plan_test"))
        let orders = (0..<40).map { LoadPlan.SeededOrder(id: "o\($0)", amountMinor: 1999, currency: "USD") }
        var plan = LoadPlan(scenario: scenario, runID: "gp1", sources: [stripe, play], orders: orders, players: [], seed: 9)
        let scheme = GooglePlaySignatureScheme(verifier: ProviderLifecycle.googleVerifier(), packageNames: [app])
        var seen: [PaymentEventKind: Int] = [:]
        var messages: [String: Int] = [:]
        var forged = 0
        for index in 0..<400 {
            let request = plan.next(at: .milliseconds(index), now: Date())
            guard request.path.hasSuffix("/play") else { continue }
            let signed = SignedRequest(headers: request.headers, body: request.body)
            switch request.note {
            case .genuineEvent(let account, let id):
                #expect(account == "play")
                try await scheme.verify(signed, now: Date())
                let headers = Dictionary(request.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
                let events = try PaymentEventNormalizer(tenant: "t", source: "play", provider: .googlePlay).normalize(headers: headers, body: request.body)
                let event = try #require(events.first)
                #expect(events.count == 1 && event.understood && event.orderID == nil && event.providerEventID == id)
                #expect(event.providerPaymentID?.hasPrefix("gp.gp_gp1_") == true, "a purchase token of the run")
                seen[event.kind, default: 0] += 1
                messages[id, default: 0] += 1
            case .forgedEvent:
                forged += 1
                await #expect(throws: VerificationFailure.self) { try await scheme.verify(signed, now: Date()) }
            default: Issue.record("unexpected note for \(request.kind)")
            }
        }
        #expect(seen[.paymentSucceeded, default: 0] > 20 && seen[.refundSucceeded, default: 0] > 0, "\(seen)")
        #expect(messages.values.contains { $0 > 1 }, "some pushes redelivered")
        #expect(forged > 0)
        // The seeded orders are paid by Stripe alone.
        #expect(!plan.ledger.payments.isEmpty && plan.ledger.payments.values.allSatisfy { $0.hasPrefix("stripe|") })
    }
}

/// The generator signs with the very bytes the providers' SDKs produce: its sources' signers
/// reproduce the SDK fixture headers of Tests/Fixtures/webhooks exactly.
@Suite struct GeneratorSigningMatchesSDKFixtures {
    @Test(arguments: ["stripe", "standard-webhooks", "paddle", "xsolla", "checkout", "adyen"])
    func reproducesTheSDKVector(provider: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/webhooks/\(provider).json")
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try #require(file["cases"] as? [[String: Any]])
        let vector = try #require(cases.first { ($0["expect"] as? String) == "ok" && ($0["secrets"] as? [String])?.count == 1
            && ["valid", "valid v1", "valid (Adyen's known answer)"].contains($0["name"] as? String ?? "") })
        let secret = try #require((vector["secrets"] as? [String])?.first)
        let body = Array(try #require(vector["body"] as? String).utf8)
        let sent = Dictionary(((vector["headers"] as? [String: String]) ?? [:]).map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        let timestamp = Int64(sent["webhook-timestamp"]
            ?? sent["stripe-signature"].flatMap { $0.split(separator: ",").first { $0.hasPrefix("t=") }.map { String($0.dropFirst(2)) } }
            ?? sent["paddle-signature"].flatMap { $0.split(separator: ";").first { $0.hasPrefix("ts=") }.map { String($0.dropFirst(3)) } } ?? "0") ?? 0
        let source = LoadSource(name: "s", provider: try #require(Provider(rawValue: provider)), secret: Secret(secret))
        let signed = source.signer.sign(body: body, timestamp: timestamp, id: sent["webhook-id"] ?? "")
        let produced = Dictionary(signed.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        if provider == "adyen" {
            func signatures(_ bytes: [UInt8]) -> [String] {
                let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
                return (object?["notificationItems"] as? [[String: Any]] ?? []).compactMap {
                    (($0["NotificationRequestItem"] as? [String: Any])?["additionalData"] as? [String: Any])?["hmacSignature"] as? String
                }
            }
            #expect(!signatures(body).isEmpty && signatures(signed.body) == signatures(body))
        } else {
            let name = ["stripe": "stripe-signature", "standard-webhooks": "webhook-signature", "paddle": "paddle-signature",
                        "xsolla": "authorization", "checkout": "cko-signature"][provider]!
            #expect(produced[name] == sent[name])
        }
    }
}

extension LoadPlanTests {
    /// A run that outlives its seeded orders (60 here) keeps sending requests the edge accepts:
    /// redeliveries once no order can be paid or refunded, never a status read without a player
    /// (the edge's 401, which a 30-minute soak counted as errors), and it says how many.
    @Test func aRunThatOutlivesItsOrdersSendsRedeliveriesNotTokenlessStatusReads() async {
        var plan = plan([(.webhook, 1)])
        var kinds: [RequestKind: Int] = [:]
        for index in 0..<3_000 {
            let request = plan.next(at: .milliseconds(index * 10), now: Date())
            kinds[request.kind, default: 0] += 1
            if request.path.contains("/webhooks/"), request.kind != .webhook || index % 10 == 0 {
                #expect(await verify(request) == nil, "\(request.kind) \(request.path)")
            }
        }
        #expect(kinds[.status] == nil)
        #expect(plan.slotsWithoutMoney > 0, "the 60 orders ran out")
        #expect(kinds[.duplicate] == plan.slotsWithoutMoney)
    }
}
