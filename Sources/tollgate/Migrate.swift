import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import TollgatePostgres
import TollgateCore

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations (safe to run from several instances at once)."
    )

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let loaded = try Bootstrap.loadConfiguration(path: options.config)
        let logger = Bootstrap.logger(for: loaded.configuration)
        let config = loaded.configuration.postgres
        guard var endpoint = PostgresEndpoint(url: config.url) else {
            throw ValidationError("postgres.url is not a valid postgres:// URL")
        }
        if let password = config.password {
            endpoint.password = try password.resolve(environment: ProcessInfo.processInfo.environment).exposedValue
        }
        let client = PostgresClient(configuration: endpoint.clientConfiguration(poolSize: 1, connectTimeout: config.connectTimeout), backgroundLogger: logger)
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            group.addTask {
                await client.run()
                return []
            }
            defer { group.cancelAll() }
            return try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: logger)
        }
        print(applied.isEmpty ? "migrations: up to date" : "migrations: applied \(applied.map(String.init).joined(separator: ", "))")
    }
}
