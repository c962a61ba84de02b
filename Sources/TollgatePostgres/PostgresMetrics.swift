import Metrics
import TollgateCore
import TollgateOrders
import TollgateTelemetry

/// Latency and error metrics for Postgres calls, labelled by a fixed operation name (never SQL
/// text or values, which would leak data into labels and explode their number).
public enum PostgresMetrics {
    private static let callDurations = TimerFamily("tollgate_postgres_call_duration_seconds", labels: "operation")
    private static let callErrors = CounterFamily("tollgate_postgres_errors_total", labels: "operation")

    /// Runs `body`, recording `tollgate_postgres_call_duration_seconds{operation}` and, if it
    /// throws, `tollgate_postgres_errors_total{operation}`.
    public static func measure<T>(_ operation: StaticString, _ body: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        let name = "\(operation)"
        do {
            let result = try await body()
            callDurations(name).recordNanoseconds((ContinuousClock.now - start).nanoseconds)
            return result
        } catch {
            callErrors(name).increment()
            throw error
        }
    }
}

/// What committed plans did to orders that operators act on.
enum OrderMetrics {
    /// `tollgate_orders_needs_review_total{reason}`: each review reason a committed plan gave an
    /// order that did not have it (a human settles it; the alert is on its rate). Call after commit.
    static func record(_ plans: [WritePlan]) {
        for plan in plans {
            for reason in plan.reviewReasonsAdded.values.joined() {
                Counter(label: "tollgate_orders_needs_review_total", dimensions: [("reason", reason.rawValue)]).increment()
            }
        }
    }
}
