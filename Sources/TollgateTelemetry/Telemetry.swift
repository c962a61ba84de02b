import Logging
import Metrics
import NIOConcurrencyHelpers
import Prometheus

/// Process-wide logging and metrics set-up. Both systems can be bootstrapped once per process,
/// so this is idempotent: the first call wins and later calls (tests) reuse it.
public enum Telemetry {
    private static let state = NIOLockedValueBox<PrometheusCollectorRegistry?>(nil)

    /// The registry `/metrics` renders. Bootstraps swift-metrics with Prometheus on first use.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        state.withLockedValue { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: created)
            // Latency buckets from 0.5 ms to 10 s: the edge answers in milliseconds, Postgres commits in a few.
            factory.defaultDurationHistogramBuckets = [
                .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2), .seconds(5), .seconds(10),
            ]
            MetricsSystem.bootstrap(factory)
            registry = created
            return created
        }
    }

    private static let loggingBootstrapped = NIOLockedValueBox(false)

    /// JSON lines on stdout at `level`.
    public static func bootstrapLogging(level: Logger.Level) {
        loggingBootstrapped.withLockedValue { done in
            guard !done else { return }
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            done = true
        }
    }
}
