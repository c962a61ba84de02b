/// Where a Redis server is and how to log in. Parsed by the configuration loader (so a bad URL
/// names its file and line) and used by the Redis client.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var password: String?
    public var database: Int
    /// `rediss://`: TLS, the server's certificate checked against the configured CA and the host
    /// name (or, for an IP literal, the certificate's IP SANs).
    public var tls: Bool

    public init(host: String, port: Int = 6379, password: String? = nil, database: Int = 0, tls: Bool = false) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses `redis://` or `rediss://` (TLS) `[[user]:password@]host[:port][/db]`. Returns nil for anything else.
    public init?(url: String) {
        let tls = url.hasPrefix("rediss://")
        guard tls || url.hasPrefix("redis://") else { return nil }
        var rest = Substring(url.dropFirst(tls ? "rediss://".count : "redis://".count))
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            password = credentials.split(separator: ":", maxSplits: 1).last.map(String.init)
            if credentials.hasPrefix(":") { password = String(credentials.dropFirst()) }
            rest = rest[rest.index(after: at)...]
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let dbText = rest[rest.index(after: slash)...]
            if !dbText.isEmpty {
                guard let db = Int(dbText), db >= 0 else { return nil }
                database = db
            }
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = 6379
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let parsed = Int(rest[rest.index(after: colon)...]), (1...65535).contains(parsed) else { return nil }
            port = parsed
            host = String(rest[..<colon])
        }
        host = host.trimmingPrefix("[").description
        if host.hasSuffix("]") { host.removeLast() }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port, password: password, database: database, tls: tls)
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "\(tls ? "rediss" : "redis")://\(password == nil ? "" : ":<redacted>@")\(hostText):\(port)/\(database)"
    }
}
