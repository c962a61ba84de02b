import Metrics
import Testing
import TollgateTelemetry

/// Metric handles kept per label set (`MetricFamily`): what a kept handle records reaches the
/// registry `/metrics` renders, label sets stay apart, and nothing made before the bootstrap (a
/// no-op handle) is kept to silence its series later.
@Suite(.serialized) struct MetricFamilyTests {
    @Test func aKeptHandleRecordsIntoTheRegistryUnderItsOwnLabels() {
        OperationalGaugesTests.bootstrapMetrics()
        let family = CounterFamily("tollgate_test_family_total", labels: "provider", "outcome")
        let first = family("stripe", "applied")
        #expect(family("stripe", "applied") === first)
        #expect(family("stripe", "duplicate") !== first)
        #expect(family("adyen", "applied") !== first)

        first.increment()
        family("stripe", "applied").increment(by: 2)
        family("adyen", "applied").increment()
        #expect(OperationalGaugesTests.value("tollgate_test_family_total", ["provider": "stripe", "outcome": "applied"]) == 3)
        #expect(OperationalGaugesTests.value("tollgate_test_family_total", ["provider": "adyen", "outcome": "applied"]) == 1)
        #expect(OperationalGaugesTests.value("tollgate_test_family_total", ["provider": "stripe", "outcome": "duplicate"]) == 0)
    }

    @Test func aFamilyOfOneLabelIgnoresASecondValue() {
        OperationalGaugesTests.bootstrapMetrics()
        let family = TimerFamily("tollgate_test_family_seconds", labels: "operation")
        #expect(family("commit") === family("commit", "ignored"))
        family("commit").recordNanoseconds(3_000_000)
        family("commit", "ignored").recordNanoseconds(4_000_000)
        #expect(OperationalGaugesTests.value("tollgate_test_family_seconds_count", ["operation": "commit"]) == 2)
    }

    @Test func noOpHandlesMadeBeforeTheBootstrapAreNotKept() {
        OperationalGaugesTests.bootstrapMetrics()
        let family = CounterFamily("tollgate_test_family_unbooted_total", labels: "outcome")
        // A task-local no-op factory stands in for the system before its bootstrap.
        let unbooted = withMetricsFactory(NOOPMetricsHandler.instance) { (family("x"), family("x")) }
        #expect(unbooted.0 !== unbooted.1)
        let booted = family("x")
        #expect(booted !== unbooted.0 && booted !== unbooted.1)
        #expect(family("x") === booted)
        booted.increment()
        #expect(OperationalGaugesTests.value("tollgate_test_family_unbooted_total", ["outcome": "x"]) == 1)
    }

    @Test func concurrentLookupsCountEveryIncrement() async {
        OperationalGaugesTests.bootstrapMetrics()
        let family = CounterFamily("tollgate_test_family_concurrent_total", labels: "route", "status")
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<1_000 { family("/route/\(index % 4)", task % 2 == 0 ? "200" : "409").increment() }
                }
            }
        }
        var total = 0.0
        for route in 0..<4 {
            for status in ["200", "409"] {
                total += OperationalGaugesTests.value("tollgate_test_family_concurrent_total", ["route": "/route/\(route)", "status": status]) ?? 0
            }
        }
        #expect(total == 8_000)
    }
}
