import Foundation
import TollgateCore
import TollgateFulfilment
import TollgateOrders
import Yams

extension TenantFileParser {
    /// The `game_backend` section (see ``GameBackendSettings``): every problem with file:line:col.
    mutating func parseGameBackend(tenant: String, node: Node, path: String, development: Bool) {
        guard let settings = node.mapping else { issue(node, path, "'game_backend' must be a mapping"); return }
        let known = ["url", "secrets", "timeout", "events", "max_in_flight", "retry_schedule", "player_verification"]
        for key in settings.keys where !known.contains(key.string ?? "") { issue(key, path, "unknown key '\(key.string ?? "?")' in game_backend") }

        let url = settings["url"]?.string ?? ""
        if let problem = GameBackendSettings.urlProblem(url, development: development) { issue(settings["url"] ?? node, path, problem) }

        var secrets: [Secret] = []
        if case .sequence(let list)? = settings["secrets"], !list.isEmpty {
            for item in list {
                guard let secret = resolve(item, path: path, what: "game_backend secret") else { continue }
                // Standard Webhooks: whsec_ and the base64 of at least 24 random bytes.
                let text = secret.exposedValue
                guard text.hasPrefix("whsec_"), let key = Base64.decode(text.dropFirst(6)), key.count >= 24 else {
                    issue(item, path, "game_backend secret must be whsec_ followed by the base64 of at least 24 bytes")
                    continue
                }
                secrets.append(secret)
            }
        } else {
            issue(settings["secrets"] ?? node, path, "game_backend 'secrets' must list at least one whsec_ secret")
        }

        func duration(_ name: String, _ fallback: Duration, _ range: ClosedRange<Duration>, _ example: String) -> Duration {
            guard let node = settings[name] else { return fallback }
            guard let value = node.string.flatMap(SettingParser.duration), range.contains(value) else {
                issue(node, path, "game_backend \(name) must be a duration from \(range.lowerBound) to \(range.upperBound), like \(example)")
                return fallback
            }
            return value
        }
        let timeout = duration("timeout", .seconds(15), .seconds(1) ... .seconds(30), "15s")

        var events = FulfilmentEvent.defaultSubscription
        if let eventsNode = settings["events"] {
            if case .sequence(let list) = eventsNode, !list.isEmpty {
                events = []
                for item in list {
                    if let event = item.string.flatMap(FulfilmentEvent.init(rawValue:)) { events.insert(event) }
                    else { issue(item, path, "game_backend event must be one of \(FulfilmentEvent.allCases.map(\.rawValue).joined(separator: ", "))") }
                }
                if events.contains(where: \.revokes), !events.isSuperset(of: [.orderPaid, .orderReinstated]) {
                    issue(eventsNode, path, "game_backend events that revoke (order.refunded, order.charged_back) need order.paid and order.reinstated too (a reversed chargeback grants again)")
                }
            } else {
                issue(eventsNode, path, "game_backend 'events' must be a non-empty list")
            }
        }

        var inFlight = 4
        if let node = settings["max_in_flight"] {
            if let value = node.int, (1...256).contains(value) { inFlight = value } else { issue(node, path, "game_backend max_in_flight must be 1 to 256") }
        }

        var schedule = RetrySchedule.svix
        if let scheduleNode = settings["retry_schedule"] {
            if case .sequence(let list) = scheduleNode, (1...20).contains(list.count) {
                var delays: [Duration] = []
                for item in list {
                    if let value = item.string.flatMap(SettingParser.duration), value >= .zero, value <= .seconds(86_400) { delays.append(value) }
                    else { issue(item, path, "game_backend retry_schedule entries are durations up to 24h, like 5m") }
                }
                schedule = RetrySchedule(delays: delays)
            } else {
                issue(scheduleNode, path, "game_backend 'retry_schedule' must list 1 to 20 delays, like [5s, 5m, 30m, 2h]")
            }
        }

        var verification: GameBackendSettings.PlayerVerification?
        if let verificationNode = settings["player_verification"] {
            if let map = verificationNode.mapping {
                for key in map.keys where !["timeout", "on_timeout", "cache"].contains(key.string ?? "") {
                    issue(key, path, "unknown key '\(key.string ?? "?")' in player_verification")
                }
                var value = GameBackendSettings.PlayerVerification()
                if let node = map["timeout"] {
                    if let timeout = node.string.flatMap(SettingParser.duration), timeout >= .milliseconds(100), timeout <= .seconds(10) { value.timeout = timeout }
                    else { issue(node, path, "player_verification timeout must be a duration from 100ms to 10s, like 2s") }
                }
                if let node = map["on_timeout"] {
                    if let choice = node.string.flatMap(GameBackendSettings.PlayerVerification.OnTimeout.init(rawValue:)) { value.onTimeout = choice }
                    else { issue(node, path, "player_verification on_timeout must be refuse or allow") }
                }
                if let node = map["cache"] {
                    if let cache = node.string.flatMap(SettingParser.duration), cache >= .zero, cache <= .seconds(3600) { value.cacheFor = cache }
                    else { issue(node, path, "player_verification cache must be a duration up to 1h, like 60s") }
                }
                verification = value
            } else {
                issue(verificationNode, path, "'player_verification' must be a mapping")
            }
        }

        guard GameBackendSettings.urlProblem(url, development: development) == nil, !secrets.isEmpty else { return }
        gameBackends.append(GameBackendSettings(tenant: tenant, url: url, secrets: secrets, timeout: timeout, events: events,
                                                maximumInFlight: inFlight, retrySchedule: schedule, playerVerification: verification))
    }
}
