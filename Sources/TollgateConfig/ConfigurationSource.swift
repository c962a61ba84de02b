import Yams

/// A flattened view of a YAML configuration file plus environment overrides.
///
/// Every leaf is addressed by its dotted path (`server.tls.private_key`) and remembers where it
/// came from. An environment variable `TOLLGATE_` + the path upper-cased with `.` as `_`
/// (`TOLLGATE_SERVER_TLS_PRIVATE_KEY`) overrides the file.
public struct ConfigurationSource: Sendable {
    public struct Value: Sendable, Equatable {
        public var text: String
        public var origin: ConfigurationOrigin
    }

    public private(set) var values: [String: Value] = [:]
    /// Problems found while reading (syntax, unknown keys, wrong shapes).
    public private(set) var issues: [ConfigurationIssue] = []

    /// Reads `yaml` (the contents of `path`), keeping only keys in `knownKeys` and reporting the others,
    /// then applies overrides from `environment`.
    public init(yaml: String, path: String, knownKeys: Set<String>, environment: [String: String]) {
        do {
            if let root = try Yams.compose(yaml: yaml) {
                flatten(root, prefix: "", path: path, knownKeys: knownKeys)
            }
        } catch let error as YamlError {
            issues.append(Self.issue(for: error, path: path))
        } catch {
            issues.append(ConfigurationIssue(.file(path: path, line: 1, column: 1), "cannot read YAML: \(error)"))
        }
        for key in knownKeys {
            let variable = Self.environmentVariable(for: key)
            if let text = environment[variable] {
                values[key] = Value(text: text, origin: .environment(variable: variable))
            }
        }
    }

    /// The environment variable that overrides `key`.
    public static func environmentVariable(for key: String) -> String {
        "TOLLGATE_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    private mutating func flatten(_ node: Node, prefix: String, path: String, knownKeys: Set<String>) {
        switch node {
        case .mapping(let mapping):
            for (keyNode, valueNode) in mapping {
                guard let key = keyNode.string else {
                    issues.append(ConfigurationIssue(Self.origin(keyNode.mark, path), "keys must be strings"))
                    continue
                }
                let full = prefix.isEmpty ? key : prefix + "." + key
                let isSection = knownKeys.contains { $0.hasPrefix(full + ".") }
                if case .mapping = valueNode, isSection {
                    flatten(valueNode, prefix: full, path: path, knownKeys: knownKeys)
                } else if knownKeys.contains(full) {
                    if case .scalar(let scalar) = valueNode {
                        // `key:` with nothing (or `~`, `null`) leaves the default in force.
                        if valueNode.null == nil {
                            values[full] = Value(text: scalar.string, origin: Self.origin(valueNode.mark, path))
                        }
                    } else {
                        issues.append(ConfigurationIssue(Self.origin(valueNode.mark, path), "'\(full)' must be a single value"))
                    }
                } else if isSection {
                    issues.append(ConfigurationIssue(Self.origin(valueNode.mark, path), "'\(full)' must be a mapping"))
                } else {
                    issues.append(ConfigurationIssue(Self.origin(keyNode.mark, path), "unknown key '\(full)'"))
                }
            }
        case .scalar where prefix.isEmpty && node.null != nil:
            break  // An empty file: every default applies.
        default:
            issues.append(ConfigurationIssue(Self.origin(node.mark, path), "expected a mapping of settings"))
        }
    }

    private static func origin(_ mark: Mark?, _ path: String) -> ConfigurationOrigin {
        .file(path: path, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    private static func origin(characterOffset offset: Int, in text: String, _ path: String) -> ConfigurationOrigin {
        let before = text.prefix(offset).split(separator: "\n", omittingEmptySubsequences: false)
        return .file(path: path, line: before.count, column: (before.last?.count ?? 0) + 1)
    }

    /// Position and problem only, for this file and the tenant files: Yams's own description
    /// quotes the offending line, which may hold a literal secret.
    static func issue(for error: YamlError, path: String) -> ConfigurationIssue {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            ConfigurationIssue(origin(mark, path), "invalid YAML: \(problem)")
        case let .reader(problem, offset, _, yaml):
            // A control character or bad encoding: libyaml gives a character offset, not a mark.
            ConfigurationIssue(origin(characterOffset: offset ?? 0, in: yaml, path), "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            ConfigurationIssue(origin(context.mark, path), "duplicate key(s) \(duplicates.joined(separator: ", "))")
        default:
            ConfigurationIssue(.file(path: path, line: 1, column: 1), "invalid YAML: \(error)")
        }
    }
}
