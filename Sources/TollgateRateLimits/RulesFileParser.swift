import Foundation
import TollgateCore
import Yams

/// Reads a rules directory into a ``RuleSet``, or every diagnostic found.
///
/// ```yaml
/// rules:
///   - name: webhooks-per-source
///     match: { route: webhooks, source: stripe, method: POST }   # source and method optional
///     rate: 100/s            # N/s, N/min, N/h, N/d or N/<duration> like 100/5m
///     burst: 200             # default: N
///     by: source             # tenant, source, client_ip, player
///     mode: enforce          # or shadow
///   - name: internal-monitor
///     match: { route: status }
///     unlimited: true
/// ```
public enum RulesFileParser {
    static let ruleKeys: Set<String> = ["name", "match", "rate", "burst", "by", "mode", "unlimited"]
    static let matchKeys: Set<String> = ["route", "source", "method"]

    /// Parses every `*.yaml` in `directory`: `_defaults.yaml` and `<tenant>.yaml`.
    public static func load(directory: String) -> Result<RuleSet, FileDiagnostics> {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            return .failure(FileDiagnostics([FileDiagnostic(file: directory, line: 0, column: 0, message: "cannot read the rules directory")]))
        }
        var set = RuleSet()
        var diagnostics: [FileDiagnostic] = []
        for name in names.sorted() where name.hasSuffix(".yaml") {
            let path = (directory as NSString).appendingPathComponent(name)
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            let (rules, problems) = parse(yaml: text, file: path)
            diagnostics += problems
            let stem = String(name.dropLast(".yaml".count))
            if stem == "_defaults" { set.defaults = rules } else { set.tenants[stem] = rules }
        }
        return diagnostics.isEmpty ? .success(set) : .failure(FileDiagnostics(diagnostics))
    }

    /// Parses one file's text. Returns the rules it could read and every problem.
    public static func parse(yaml: String, file: String) -> (rules: [RateLimitRule], diagnostics: [FileDiagnostic]) {
        var diagnostics: [FileDiagnostic] = []
        func report(_ node: Node?, _ message: String) {
            diagnostics.append(FileDiagnostic(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, message: message))
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            switch error {
            case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
                diagnostics.append(FileDiagnostic(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)"))
            default:
                diagnostics.append(FileDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(error)"))
            }
            return ([], diagnostics)
        } catch {
            return ([], [FileDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(error)")])
        }
        guard let root else { return ([], []) }
        guard let mapping = root.mapping else { report(root, "expected a mapping with a 'rules' list"); return ([], diagnostics) }
        for key in mapping.keys where key.string != "rules" { report(key, "unknown key '\(key.string ?? "?")'") }
        guard let list = mapping["rules"] else { return ([], diagnostics) }
        guard case .sequence(let items) = list else { report(list, "'rules' must be a list"); return ([], diagnostics) }

        var rules: [RateLimitRule] = []
        var names: [String: Int] = [:]
        for item in items {
            guard let rule = item.mapping else { report(item, "a rule must be a mapping"); continue }
            for key in rule.keys where !ruleKeys.contains(key.string ?? "") { report(key, "unknown key '\(key.string ?? "?")'") }
            guard let nameNode = rule["name"], let name = nameNode.string, !name.isEmpty else { report(item, "a rule needs a 'name'"); continue }
            if let line = names[name] {
                report(nameNode, "duplicate rule name '\(name)' (first at line \(line))")
            }
            names[name] = nameNode.mark?.line ?? 0

            guard let matchNode = rule["match"], let match = matchNode.mapping else { report(rule["match"] ?? nameNode, "rule '\(name)' needs a 'match' mapping"); continue }
            for key in match.keys where !matchKeys.contains(key.string ?? "") { report(key, "unknown key '\(key.string ?? "?")' in match") }
            guard let routeNode = match["route"], let route = routeNode.string.flatMap(RouteClass.init(rawValue:)) else {
                report(match["route"] ?? matchNode, "unknown route '\(match["route"]?.string ?? "")'; expected one of \(RouteClass.allCases.map(\.rawValue).joined(separator: ", "))")
                continue
            }
            let unlimited = rule["unlimited"]?.bool ?? false
            if let node = rule["unlimited"], node.bool == nil { report(node, "'unlimited' must be true or false") }

            var rate: Rate?
            if let rateNode = rule["rate"] {
                rate = rateNode.string.flatMap(Rate.init(parsing:))
                if rate == nil { report(rateNode, "bad rate '\(rateNode.string ?? "")'; write N/s, N/min, N/h, N/d or N/<duration> like 100/5m") }
            } else if !unlimited {
                report(nameNode, "rule '\(name)' needs a 'rate' (or 'unlimited: true')")
            }
            var burst: Int64?
            if let burstNode = rule["burst"] {
                burst = burstNode.int.map(Int64.init)
                if burst == nil || burst! < 1 { report(burstNode, "'burst' must be a positive integer"); burst = nil }
            }
            var by = LimitKey.tenant
            if let byNode = rule["by"] {
                if let parsed = byNode.string.flatMap(LimitKey.init(rawValue:)) { by = parsed } else {
                    report(byNode, "unknown 'by' '\(byNode.string ?? "")'; expected one of \(LimitKey.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
            var mode = RuleMode.enforce
            if let modeNode = rule["mode"] {
                if let parsed = modeNode.string.flatMap(RuleMode.init(rawValue:)) { mode = parsed } else {
                    report(modeNode, "unknown mode '\(modeNode.string ?? "")'; expected enforce or shadow")
                }
            }
            rules.append(RateLimitRule(
                name: name, route: route, source: match["source"]?.string, method: match["method"]?.string,
                rate: rate, burst: burst, by: by, mode: mode, unlimited: unlimited,
                origin: "\(file):\(nameNode.mark?.line ?? 0)"
            ))
        }
        // In file order, as an editor or CI annotation would list them.
        return (rules, diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
    }
}
