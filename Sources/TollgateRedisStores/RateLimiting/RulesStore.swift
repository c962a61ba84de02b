import Crypto
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import TollgateCore
import TollgateRateLimits

/// The rate-limit rules in force, and their reloading.
///
/// A reload validates the whole directory first; if anything is wrong the rules in force stay,
/// the diagnostics (file:line:col) are logged, and `tollgate_rules_reload_failures_total` counts
/// it. A bad edit can never take the edge down or silently drop limits.
public final class RulesStore: Sendable {
    public struct Snapshot: Sendable {
        public var rules: RuleSet
        /// SHA-256 over the files' names and contents: what changed, at a glance.
        public var contentHash: String
        public var loadedAt: Date
        public var files: [String]
    }

    public let directory: String
    private let current: NIOLockedValueBox<Snapshot>
    private let logger: Logger

    /// Loads `directory`; throws its diagnostics if the rules are invalid at start.
    public init(directory: String, logger: Logger) throws {
        self.directory = directory
        self.logger = logger
        self.current = NIOLockedValueBox(try Self.load(directory))
    }

    public var snapshot: Snapshot { current.withLockedValue { $0 } }

    public enum ReloadResult: Sendable, Equatable {
        case unchanged, reloaded, rejected(String)
    }

    /// Reloads if the files changed. Keeps the rules in force on any error.
    @discardableResult
    public func reload(trigger: String) -> ReloadResult {
        let fingerprint = Self.fingerprint(directory)
        if fingerprint?.hash == snapshot.contentHash { return .unchanged }
        do {
            let fresh = try Self.load(directory)
            current.withLockedValue { $0 = fresh }
            Counter(label: "tollgate_rules_reloads_total", dimensions: [("outcome", "ok")]).increment()
            logger.notice("rate-limit rules reloaded", metadata: ["trigger": "\(trigger)", "hash": "\(fresh.contentHash.prefix(12))"])
            return .reloaded
        } catch {
            Counter(label: "tollgate_rules_reloads_total", dimensions: [("outcome", "failed")]).increment()
            logger.error("rate-limit rules reload rejected; previous rules stay in force", metadata: [
                "trigger": "\(trigger)", "diagnostics": "\(error)",
            ])
            return .rejected("\(error)")
        }
    }

    static func load(_ directory: String) throws -> Snapshot {
        let set = try RulesFileParser.load(directory: directory).get()
        let fingerprint = fingerprint(directory)
        return Snapshot(rules: set, contentHash: fingerprint?.hash ?? "", loadedAt: Date(), files: fingerprint?.files ?? [])
    }

    static func fingerprint(_ directory: String) -> (hash: String, files: [String])? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        var hasher = SHA256()
        let files = names.filter { $0.hasSuffix(".yaml") }.sorted()
        for name in files {
            hasher.update(data: Array(name.utf8) + [0])
            if let data = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(name)) {
                hasher.update(data: data)
            }
        }
        return (hasher.finalize().hexEncoded, files)
    }
}
