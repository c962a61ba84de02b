import Foundation

/// Where Postgres is and how to log in, parsed from a `postgres://` URL. Parsed by the
/// configuration loader (so a bad URL names its file and line) and used by the Postgres adapter.
public struct PostgresEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// libpq's `sslmode`, with libpq's meaning for each (PostgreSQL manual, "SSL Support" in libpq).
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, plain otherwise.
        case prefer
        /// TLS always. Encrypts, but checks no certificate unless `sslrootcert` names a CA.
        case require
        /// TLS, the server's chain checked against the CA; any host name is accepted.
        case verifyCA = "verify-ca"
        /// TLS, the chain checked and the certificate must name the host (DNS or IP SAN).
        case verifyFull = "verify-full"
    }

    /// What a TLS connection checks of the server's certificate. Derived from the mode and
    /// `sslrootcert` in one place, ``certificateCheck``, so the adapter only translates it.
    public enum CertificateCheck: Sendable, Equatable {
        /// Encrypted, but anyone in the path can present any certificate.
        case none
        /// The chain must lead to the CA (or, without one, to the system's roots).
        case chain
        /// The chain, and the certificate must name the host connected to.
        case chainAndHostname
    }

    /// Why a `postgres.url` cannot be used, worded for a configuration error.
    public enum URLError: Error, Sendable, Equatable, CustomStringConvertible {
        case notAPostgresURL
        case unknownSSLMode(String)
        case emptyRootCertificate

        public var description: String {
            switch self {
            case .notAPostgresURL:
                "not a postgres://user[:password]@host[:port]/database[?sslmode=MODE&sslrootcert=PATH] URL"
            case .unknownSSLMode(let mode):
                "sslmode '\(mode)' is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))"
            case .emptyRootCertificate:
                "sslrootcert names no file"
            }
        }
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// libpq's `sslrootcert`: a PEM file of the CA certificates the server's chain must lead to.
    /// Nil: the system's roots.
    public var rootCertificatePath: String?

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String,
                tls: TLSMode = .disable, rootCertificatePath: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.rootCertificatePath = rootCertificatePath
    }

    /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=MODE&sslrootcert=PATH]`;
    /// nil for anything else. ``init(parsing:)`` says why.
    public init?(url text: String) {
        guard let endpoint = try? PostgresEndpoint(parsing: text) else { return nil }
        self = endpoint
    }

    /// Parses a `postgres://` (or `postgresql://`) URL. Query parameters other than `sslmode` and
    /// `sslrootcert` are ignored, as before.
    public init(parsing text: String) throws(URLError) {
        guard let components = URLComponents(string: text),
              components.scheme == "postgres" || components.scheme == "postgresql",
              let host = components.host, !host.isEmpty,
              let user = components.user, !user.isEmpty
        else { throw .notAPostgresURL }
        let database = String(components.path.dropFirst())
        var tls = TLSMode.disable
        if let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value {
            guard let parsed = TLSMode(rawValue: mode) else { throw .unknownSSLMode(mode) }
            tls = parsed
        }
        var rootCertificatePath: String?
        if let item = components.queryItems?.first(where: { $0.name == "sslrootcert" }) {
            guard let path = item.value, !path.isEmpty else { throw .emptyRootCertificate }
            rootCertificatePath = path
        }
        self.init(
            host: host,
            port: components.port ?? 5432,
            username: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: database.isEmpty ? user : database,
            tls: tls,
            rootCertificatePath: rootCertificatePath
        )
    }

    /// What the server's certificate must pass. As libpq does, `prefer` and `require` check the
    /// chain once a CA is named (`sslrootcert`), and only `verify-full` checks the host name.
    public var certificateCheck: CertificateCheck {
        switch tls {
        case .disable, .prefer, .require: rootCertificatePath == nil ? .none : .chain
        case .verifyCA: .chain
        case .verifyFull: .chainAndHostname
        }
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        var text = "postgres://\(username)\(password == nil ? "" : ":<redacted>")@\(hostText):\(port)/\(database)?sslmode=\(tls.rawValue)"
        if let rootCertificatePath { text += "&sslrootcert=\(rootCertificatePath)" }
        return text
    }
}
