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
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tlsSetting
        )
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = connectTimeout
        return configuration
    }
}
