import Logging
import TollgateConfig
import TollgateRateLimits

/// The rate-limit rules in force, reloaded whole or not at all (see ``ReloadableDirectory``).
public typealias RulesStore = ReloadableDirectory<RuleSet>

extension ReloadableDirectory where Content == RuleSet {
    /// Loads the rules directory; throws its diagnostics if the rules are invalid at start.
    public convenience init(directory: String, logger: Logger) throws {
        try self.init(directory: directory, kind: "rules", logger: logger) { RulesFileParser.load(directory: $0) }
    }
}

extension ReloadableDirectory.Snapshot where Content == RuleSet {
    public var rules: RuleSet { content }
}
