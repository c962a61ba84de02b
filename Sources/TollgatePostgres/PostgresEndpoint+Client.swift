import Foundation
import NIOSSL
import PostgresNIO
import TollgateCore

extension PostgresEndpoint {
    /// The same endpoint with a different database (tests make one database each).
    public func with(database: String) -> PostgresEndpoint {
        var copy = self
        copy.database = database
        return copy
    }

    /// A PostgresNIO client configuration for this endpoint.
    public func clientConfiguration(poolSize: Int = 20, connectTimeout: Duration = .seconds(5)) -> PostgresClient.Configuration {
        let tlsSetting: PostgresClient.Configuration.TLS = switch tls {
        case .disable: .disable
        case .prefer: .prefer(tlsConfiguration)
        case .require, .verifyCA, .verifyFull: .require(tlsConfiguration)
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tlsSetting
        )
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = connectTimeout
        return configuration
    }

    /// NIOSSL's form of ``certificateCheck``. PostgresNIO sends the host as SNI and checks it against
    /// DNS names; for an IP literal it sends none and NIOSSL checks the peer's address against the
    /// certificate's IP SANs instead.
    var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        // Postgres has refused anything older by default since version 14.
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = switch certificateCheck {
        case .none: .none
        case .chain: .noHostnameVerification
        case .chainAndHostname: .fullVerification
        }
        // Read when the pool first connects; the configuration loader has already checked it can be.
        if let rootCertificatePath { configuration.trustRoots = .file(rootCertificatePath) }
        return configuration
    }
}
