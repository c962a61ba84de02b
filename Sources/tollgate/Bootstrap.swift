import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import TollgateCore
import TollgatePostgres
import TollgateConfig
import TollgateHTTP
import TollgateRedisStores
import TollgateSignatures
import TollgateTelemetry

/// Loads configuration the same way for every subcommand: errors go to stderr as
/// `file:line:col: message` and the process exits 1.
enum Bootstrap {
    static func loadConfiguration(path: String) throws -> ConfigurationLoader.Loaded {
        do {
            return try ConfigurationLoader().load(path: path)
        } catch {
            FileHandle.standardError.write(Data("tollgate: invalid configuration\n\(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }

    static func loadTenants(_ configuration: TollgateConfiguration) throws -> (catalog: TenantCatalog, warnings: [ConfigurationIssue]) {
        do {
            return try TenantCatalog.load(
                directory: configuration.webhooks.tenantsDirectory,
                environment: ProcessInfo.processInfo.environment
            )
        } catch {
            FileHandle.standardError.write(Data("tollgate: invalid tenant configuration\n\(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }

    static func loadRules(_ configuration: TollgateConfiguration, logger: Logger) throws -> RulesStore {
        do {
            return try RulesStore(directory: configuration.rateLimits.rulesDirectory, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("tollgate: invalid rate-limit rules\n\(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    static func loadCatalog(_ configuration: TollgateConfiguration, logger: Logger) throws -> CatalogStore {
        do {
            return try CatalogStore(directory: configuration.catalog.directory, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("tollgate: invalid product catalog\n\(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// A Postgres pool for a command (run it with `client.run()`), the password resolved.
    static func postgresClient(_ configuration: TollgateConfiguration, poolSize: Int, logger: Logger) throws -> PostgresClient {
        let config = configuration.postgres
        guard var endpoint = PostgresEndpoint(url: config.url) else { throw ValidationError("postgres.url is not a valid postgres:// URL") }
        if let password = config.password {
            endpoint.password = try password.resolve(environment: ProcessInfo.processInfo.environment).exposedValue
        }
        var client = endpoint.clientConfiguration(poolSize: poolSize, connectTimeout: config.connectTimeout)
        // The deadlines serve sets: a row held elsewhere fails one statement, it never hangs a command.
        client.options.additionalStartupParameters = [
            ("lock_timeout", "\(config.lockTimeout.milliseconds)"), ("statement_timeout", "\(config.statementTimeout.milliseconds)"),
        ]
        return PostgresClient(configuration: client, backgroundLogger: logger)
    }

    static func logger(for configuration: TollgateConfiguration) -> Logger {
        Telemetry.bootstrapLogging(level: Logger.Level(rawValue: configuration.logLevel.rawValue) ?? .info)
        return Logger(label: "tollgate")
    }
}
