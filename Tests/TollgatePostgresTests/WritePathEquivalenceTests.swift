import Foundation
import Logging
import PostgresNIO
import Testing
import TollgateOrders
@testable import TollgatePostgres
import TollgateTestSupport

/// The batch path and the per-event path write the planner's decisions identically, and both
/// equal the planner's in-memory model of the tables.
@Suite struct WritePathEquivalenceTests {
    let support = MigratorTests()

    /// The three tables as comparable text rows, events named by key, in row id order.
    struct Rows: Equatable {
        var events: [String] = []
        var orders: [String] = []
        var transitions: [String] = []

        init() {}

        init(_ tables: EventTables) {
            events = tables.events.map { "\($0.key.tenant)|\($0.key.account)|\($0.key.providerEventID)|\($0.order?.orderID ?? "-")|\($0.event.kind.rawValue)|\($0.outcome.rawValue)|\($0.reason ?? "-")" }
            orders = tables.orders.sorted { $0.key < $1.key }.map { "\($0.key.tenant)|\($0.key.orderID)|\($0.value.status.rawValue)|\($0.value.refundedMinor)|\(Self.canonical($0.value.ledger))" }
            transitions = tables.transitions.map { "\($0.order.tenant)|\($0.order.orderID)|\($0.event.account)|\($0.event.providerEventID)|\($0.from.rawValue)|\($0.to.rawValue)|\($0.outcome.rawValue)|\($0.reason ?? "-")" }
        }

        /// The ledger as sorted-key JSON, so the model's and the database's compare as text.
        static func canonical(_ ledger: OrderLedger) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return String(decoding: try! encoder.encode(ledger), as: UTF8.self)
        }
    }

    func rows(_ client: PostgresClient) async throws -> Rows {
        var rows = Rows()
        for try await (t, s, id, o, k, outcome, reason) in try await client.query("""
            SELECT tenant, account, provider_event_id, coalesce(order_id, '-'), kind, outcome, coalesce(outcome_reason, '-') FROM payment_events ORDER BY id
            """).decode((String, String, String, String, String, String, String).self) {
            rows.events.append("\(t)|\(s)|\(id)|\(o)|\(k)|\(outcome)|\(reason)")
        }
        for try await (t, o, status, refunded, ledger) in try await client.query("""
            SELECT tenant, order_id, status, refunded_minor, ledger::text FROM orders ORDER BY tenant, order_id
            """).decode((String, String, String, Int64, String).self) {
            let decoded = try JSONDecoder().decode(OrderLedger.self, from: Data(ledger.utf8))
            rows.orders.append("\(t)|\(o)|\(status)|\(refunded)|\(Rows.canonical(decoded))")
        }
        for try await (t, o, s, id, from, to, outcome, reason) in try await client.query("""
            SELECT t.tenant, t.order_id, e.account, e.provider_event_id, t.from_status, t.to_status, t.outcome, coalesce(t.reason, '-')
            FROM order_transitions t JOIN payment_events e ON e.id = t.event_id ORDER BY t.id
            """).decode((String, String, String, String, String, String, String, String).self) {
            rows.transitions.append("\(t)|\(o)|\(s)|\(id)|\(from)|\(to)|\(outcome)|\(reason)")
        }
        return rows
    }

    /// Runs `steps` against a fresh database, committing each batch with `commit`.
    func run(_ steps: [LifecycleGenerator.Step], commit: @escaping @Sendable (PaymentEventStore, [PaymentEvent]) async throws -> Void) async throws -> Rows {
        var result = Rows()
        try await support.withFreshDatabase { endpoint in
            result = try await support.withClient(endpoint) { client in
                try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: support.logger)
                let store = PaymentEventStore(client: client, logger: support.logger)
                for step in steps {
                    switch step {
                    case .create(let key, let state):
                        // Seeding creates orders as pending_payment in the tenant's currency.
                        precondition(state.status == .pendingPayment)
                        try await store.seedOrders(tenant: key.tenant, orders: [(key.orderID, state.amountMinor, state.currency)])
                    case .deliver(let events):
                        try await commit(store, events)
                    }
                }
                return try await rows(client)
            }
        }
        return result
    }

    @Test(arguments: 0..<8 as Range<UInt64>)
    func randomLifecyclesLeaveIdenticalRowsThroughEitherPath(seed: UInt64) async throws {
        var generator = LifecycleGenerator(seed: 1_000 + seed)
        let steps = generator.steps(orders: 4, events: 60).map { step -> LifecycleGenerator.Step in
            guard case .create(let key, var state) = step else { return step }
            state.status = .pendingPayment
            return .create(key, state)
        }
        var model = EventTables()
        for step in steps {
            switch step {
            case .create(let key, let state): model.create(key, state)
            case .deliver(let events): model.write(model.plan(events))
            }
        }
        // The batch path alone (no fall-back to the per-event path, which would hide its bugs).
        let batch = try await run(steps) { store, events in
            _ = try await store.commitWholeBatch(events)
        }
        let single = try await run(steps) { store, events in
            for result in try await store.commitEventByEvent(events) { _ = try result.get() }
        }
        #expect(batch == single)
        #expect(batch == Rows(model))
        #expect(!batch.transitions.isEmpty)
    }
}
