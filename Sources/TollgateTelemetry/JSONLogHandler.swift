import Foundation
import Logging
import NIOConcurrencyHelpers
import TollgateCore

/// Writes each log record as one JSON object on one line (JSON Lines) to stdout.
///
/// Fields: `ts` (RFC 3339 UTC, milliseconds), `level`, `logger`, `msg`, then metadata sorted by key.
/// Call sites put ids and reasons in metadata, never bodies or secrets.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let output: JSONLogOutput

    public init(label: String, output: JSONLogOutput = .standardOutput) {
        self.label = label
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var members: [(String, JSONValue)] = [
            ("ts", .string(Self.timestamp(Date()))),
            ("level", .string(event.level.rawValue)),
            ("logger", .string(label)),
            ("msg", .string(event.message.description)),
        ]
        for key in merged.keys.sorted() {
            members.append((key, Self.json(merged[key]!)))
        }
        var line = JSONValue.object(members).serialized
        line += "\n"
        output.write(line)
    }

    static func json(_ value: Logger.MetadataValue) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let dictionary): .object(dictionary.keys.sorted().map { ($0, json(dictionary[$0]!)) })
        }
    }

    private static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

/// Where JSON log lines go. Lines are written whole under a lock so concurrent records never interleave.
public final class JSONLogOutput: Sendable {
    private let lock = NIOLock()
    private let sink: @Sendable (String) -> Void

    public init(sink: @escaping @Sendable (String) -> Void) {
        self.sink = sink
    }

    public static let standardOutput = JSONLogOutput { line in
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    func write(_ line: String) {
        lock.withLock { sink(line) }
    }
}
