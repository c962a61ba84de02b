import Metrics
import TollgateCore

/// Latency and error metrics for Postgres calls, labelled by a fixed operation name (never SQL
/// text or values, which would leak data into labels and explode their number).
public enum PostgresMetrics {
    /// Runs `body`, recording `tollgate_postgres_call_duration_seconds{operation}` and, if it
    /// throws, `tollgate_postgres_errors_total{operation}`.
    public static func measure<T>(_ operation: StaticString, _ body: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        let name = "\(operation)"
        do {
            let result = try await body()
            Timer(label: "tollgate_postgres_call_duration_seconds", dimensions: [("operation", name)])
                .recordNanoseconds((ContinuousClock.now - start).nanoseconds)
            return result
        } catch {
            Counter(label: "tollgate_postgres_errors_total", dimensions: [("operation", name)]).increment()
            throw error
        }
    }
}
