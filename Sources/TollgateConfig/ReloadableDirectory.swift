import Crypto
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import TollgateCore

/// A directory of YAML files that operators edit while the edge runs (rate-limit rules, product
/// catalogs), the content loaded from it, and its reloading.
///
/// A reload validates the whole directory first; if anything is wrong the content in force stays,
/// the diagnostics (file:line:col) are logged, and `tollgate_<kind>_reloads_total{outcome="failed"}`
/// counts it. A bad edit can never take the edge down or silently drop what is in force.
public final class ReloadableDirectory<Content: Sendable>: Sendable {
    public struct Snapshot: Sendable {
        public var content: Content
        /// SHA-256 over the files' names and contents: what changed, at a glance.
        public var contentHash: String
        public var loadedAt: Date
        public var files: [String]
    }

    public enum ReloadResult: Sendable, Equatable {
        case unchanged, reloaded, rejected(String)
    }

    public let directory: String
    /// What the directory holds, for logs and metric names: `rules`, `catalog`.
    public let kind: String
    private let parse: @Sendable (String) -> Result<Content, FileDiagnostics>
    private let current: NIOLockedValueBox<Snapshot>
    /// A change a poll saw but has not applied yet: a poll applies a change only once it has seen
    /// the same content twice, so a file caught halfway through being written never goes live.
    private let settling = NIOLockedValueBox<String?>(nil)
    private let logger: Logger

    /// Loads `directory` with `parse`; throws its diagnostics if it is invalid at start.
    public init(directory: String, kind: String, logger: Logger, parse: @escaping @Sendable (String) -> Result<Content, FileDiagnostics>) throws {
        self.directory = directory
        self.kind = kind
        self.parse = parse
        self.logger = logger
        self.current = NIOLockedValueBox(try Self.load(directory, parse: parse))
    }

    public var snapshot: Snapshot { current.withLockedValue { $0 } }

    /// Reloads if the files changed. Keeps the content in force on any error. A `poll` applies a
    /// change only when the previous poll saw the same content (editors write in several steps and
    /// a truncated YAML file can still be valid, with other prices); an explicit trigger (SIGHUP,
    /// admin) is the operator saying the edit is complete, and applies at once.
    @discardableResult
    public func reload(trigger: String) -> ReloadResult {
        let fingerprint = Self.fingerprint(directory)
        if fingerprint?.hash == snapshot.contentHash { return .unchanged }
        if trigger == "poll" {
            let seenBefore = settling.withLockedValue { seen in
                defer { seen = fingerprint?.hash }
                return seen == fingerprint?.hash
            }
            guard seenBefore else { return .unchanged }
        }
        do {
            let fresh = try Self.load(directory, parse: parse)
            current.withLockedValue { $0 = fresh }
            Counter(label: "tollgate_\(kind)_reloads_total", dimensions: [("outcome", "ok")]).increment()
            logger.notice("\(kind) reloaded", metadata: ["trigger": "\(trigger)", "hash": "\(fresh.contentHash.prefix(12))"])
            return .reloaded
        } catch {
            Counter(label: "tollgate_\(kind)_reloads_total", dimensions: [("outcome", "failed")]).increment()
            logger.error("\(kind) reload rejected; what is in force stays", metadata: ["trigger": "\(trigger)", "diagnostics": "\(error)"])
            return .rejected("\(error)")
        }
    }

    static func load(_ directory: String, parse: (String) -> Result<Content, FileDiagnostics>) throws -> Snapshot {
        // Hash first: an edit landing between hashing and parsing is seen as a change next time.
        let fingerprint = fingerprint(directory)
        let content = try parse(directory).get()
        // Changed while being read: what was parsed may be a mix of two versions. Next time.
        guard Self.fingerprint(directory)?.hash == fingerprint?.hash else {
            throw FileDiagnostics([FileDiagnostic(file: directory, line: 0, column: 0, message: "the files changed while being read; not applied")])
        }
        return Snapshot(content: content, contentHash: fingerprint?.hash ?? "", loadedAt: Date(), files: fingerprint?.files ?? [])
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

/// Picks up edits to a directory by polling its content hash (edits made with any editor, rsync
/// or a config-management run all show up the same way).
public struct DirectoryReloader<Content: Sendable>: Service {
    let directory: ReloadableDirectory<Content>
    let interval: Duration

    public init(_ directory: ReloadableDirectory<Content>, interval: Duration) {
        self.directory = directory
        self.interval = interval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                directory.reload(trigger: "poll")
            }
        }
    }
}
