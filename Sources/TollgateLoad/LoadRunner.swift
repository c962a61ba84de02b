import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL

/// Drives a scenario against a running edge: open loop (planned arrival times, latency from the
/// planned time) or closed loop (N clients back to back), over HTTP/1.1 or HTTP/2 with TLS and
/// kept-alive connections. Prints one progress line a second.
public final class LoadRunner: Sendable {
    struct Shared: Sendable {
        var plan: LoadPlan
        var recorder: LoadRecorder
        var inFlight = 0
    }

    let scenario: Scenario
    let shared: NIOLockedValueBox<Shared>
    let client: HTTPClient
    let progress: @Sendable (String) -> Void

    /// `keepingRequests`: keep every request's timing too (for fault windows; `recordedRequests`).
    public init(scenario: Scenario, plan: LoadPlan, trustRootsPath: String?, keepingRequests: Bool = false, progress: @escaping @Sendable (String) -> Void) throws {
        self.scenario = scenario
        self.shared = NIOLockedValueBox(Shared(plan: plan, recorder: LoadRecorder(keepingRequests: keepingRequests)))
        self.progress = progress
        var tls = TLSConfiguration.makeClientConfiguration()
        if let trustRootsPath { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(trustRootsPath)) }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = scenario.http == .h2 ? .automatic : .http1Only
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: scenario.connections)
        configuration.timeout = .init(connect: .seconds(5))
        configuration.decompression = .disabled
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Runs the scenario; the plan (with its ledger) is returned beside the results.
    public func run() async -> (LoadResults, LoadPlan) {
        let times = scenario.mode == .open ? Self.sendTimes(of: scenario) : []
        var prepared: [PlannedRequest]?
        if scenario.presign, scenario.mode == .open {
            let (requests, wallStart) = presign(at: times)
            // Signed for their planned send times: the clock starts at the time they assumed.
            let wait = wallStart.timeIntervalSinceNow
            if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
            prepared = requests
        }
        let startedAt = Date()
        let start = ContinuousClock.now
        let total = scenario.totalDuration
        let reporter = Task { await self.reportProgress(start: start, total: total) }
        defer { reporter.cancel() }
        await withDiscardingTaskGroup { group in
            switch scenario.mode {
            case .open: await openLoop(group: &group, start: start, times: times, prepared: prepared)
            case .closed:
                for _ in 0..<scenario.clients {
                    group.addTask {
                        while ContinuousClock.now - start < total {
                            self.shared.withLockedValue { $0.inFlight += 1 }
                            await self.send(intended: .now, start: start)
                        }
                    }
                }
            }
        }
        let seconds = Double((ContinuousClock.now - start).nanoseconds) / 1e9
        let elapsedSecond = Int((ContinuousClock.now - start).nanoseconds / 1_000_000_000)
        let (recorder, plan) = shared.withLockedValue { state in
            state.recorder.finish(at: elapsedSecond)
            return (state.recorder, state.plan)
        }
        return (LoadResults(scenario: scenario, recorder: recorder, startedAt: startedAt, seconds: seconds), plan)
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    /// When an open loop sends each request, from the start: one every 1/rate seconds at the
    /// rate planned for that moment.
    static func sendTimes(of scenario: Scenario) -> [Duration] {
        var times: [Duration] = []
        var next = Duration.zero
        while next < scenario.totalDuration {
            times.append(next)
            next += .nanoseconds(Int64(1e9 / max(1, scenario.plannedRate(at: next))))
        }
        return times
    }

    /// Drafts and signs a request for each send time, signed as if sent then by a run whose
    /// clock starts at the returned wall time: how long signing takes here is measured first, on
    /// a copy of the plan, and the start put after it. The plan itself drafts them in order, as
    /// the live loop would.
    func presign(at times: [Duration]) -> ([PlannedRequest], wallStart: Date) {
        var plan = shared.withLockedValue { $0.plan }
        var probe = plan
        let sample = min(times.count, 64)
        let clock = ContinuousClock.now
        for time in times.prefix(sample) { _ = probe.draft(at: time, now: Date().addingTimeInterval(time.seconds)).signed() }
        let perRequest = (ContinuousClock.now - clock).seconds / Double(max(1, sample))
        let wallStart = Date().addingTimeInterval(perRequest * Double(times.count) * 1.25 + 0.5)
        progress(String(format: "signing %d requests ahead (about %.1f s)", times.count, perRequest * Double(times.count)))
        let requests = times.map { plan.draft(at: $0, now: wallStart.addingTimeInterval($0.seconds)).signed() }
        shared.withLockedValue { $0.plan = plan }
        return (requests, wallStart)
    }

    /// Sends a request at each of `times` (``sendTimes(of:)``), or the one signed for it ahead
    /// (`prepared`, one per time). When `max_in_flight` requests are outstanding the loop waits, and the
    /// wait is part of the next requests' latency (nothing is omitted). A request counts as
    /// outstanding from the moment it is queued, not when its task first runs: a generator that
    /// cannot keep up with its own rate then waits here, instead of queueing tasks without bound.
    func openLoop(group: inout DiscardingTaskGroup, start: ContinuousClock.Instant, times: [Duration], prepared: [PlannedRequest]?) async {
        var index = 0
        while index < times.count {
            let now = ContinuousClock.now
            while index < times.count, start + times[index] <= now {
                if shared.withLockedValue({ $0.inFlight }) >= scenario.maxInFlight { break }
                let intended = start + times[index]
                let request = prepared?[index]
                shared.withLockedValue { $0.inFlight += 1 }
                group.addTask { await self.send(intended: intended, start: start, prepared: request) }
                index += 1
            }
            guard index < times.count else { break }
            let pause = min(start + times[index] - ContinuousClock.now, .milliseconds(1))
            try? await Task.sleep(for: max(pause, .microseconds(50)))
        }
    }

    /// Sends one request (already counted in `inFlight`) and records its answer. The plan decides
    /// under the lock; the signing, the costly part, happens outside it.
    func send(intended: ContinuousClock.Instant, start: ContinuousClock.Instant, prepared: PlannedRequest? = nil) async {
        let planned = prepared ?? shared.withLockedValue { $0.plan.draft(at: intended - start, now: Date()) }.signed()
        var request = HTTPClientRequest(url: scenario.target + planned.path)
        request.method = planned.method == "GET" ? .GET : .POST
        for (name, value) in planned.headers { request.headers.add(name: name, value: value) }
        if !planned.body.isEmpty { request.body = .bytes(ByteBuffer(bytes: planned.body)) }
        var status = 0
        var body: [UInt8] = []
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(scenario.requestTimeout.nanoseconds))
            status = Int(response.status.code)
            let buffer = try await response.body.collect(upTo: 1 << 20)
            if case .checkout = planned.note { body = Array(buffer.readableBytesView) }
        } catch {
            status = 0
        }
        let finished = ContinuousClock.now
        shared.withLockedValue { state in
            state.inFlight -= 1
            state.recorder.record(planned.kind, status: status, latency: finished - intended,
                                  second: Int((finished - start).nanoseconds / 1_000_000_000), sentAt: intended - start)
            state.plan.answered(planned, status: status, body: body)
        }
    }

    func reportProgress(start: ContinuousClock.Instant, total: Duration) async {
        var reported = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let second = Int((ContinuousClock.now - start).nanoseconds / 1_000_000_000)
            guard second > reported else { continue }
            let (sample, inFlight) = shared.withLockedValue { state in
                state.recorder.closeSeconds(through: second)
                return (state.recorder.lastSecond, state.inFlight)
            }
            reported = second
            guard let sample else { continue }
            let statuses = LoadResults.describe(sample.statuses)
            progress(String(format: "[%4ds] %6d/s  p50 %7.2f ms  p99 %8.2f ms  errors %d  in flight %d  ", sample.second + 1, sample.count,
                            sample.p50, sample.p99, sample.errors, inFlight) + statuses)
        }
    }
}
