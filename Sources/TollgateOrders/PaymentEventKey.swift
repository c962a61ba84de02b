/// The identity under which a provider event is stored once: Postgres's unique key and the Redis
/// dedup claim are both built from this value, and nowhere else.
public struct PaymentEventKey: Hashable, Sendable {
    public var tenant: String
    /// The provider account (a source's `account`, by default its name): sources of one account
    /// share deduplication, so an endpoint migration never applies a refund twice.
    public var account: String
    /// The provider's id for the event, as the normalizer derives it.
    public var providerEventID: String

    public init(tenant: String, account: String, providerEventID: String) {
        self.tenant = tenant
        self.account = account
        self.providerEventID = providerEventID
    }

    /// The Redis key of the dedup claim. The braces make a Redis Cluster hash tag: one tenant's
    /// keys live together.
    public var redisKey: String { "dedup:{\(tenant)}:\(account):\(providerEventID)" }
}

/// One order of one tenant: the unit the state machine and the row locks work on.
public struct OrderKey: Hashable, Comparable, Sendable {
    public var tenant: String
    public var orderID: String

    public init(tenant: String, orderID: String) {
        self.tenant = tenant
        self.orderID = orderID
    }

    public static func < (lhs: OrderKey, rhs: OrderKey) -> Bool {
        (lhs.tenant, lhs.orderID) < (rhs.tenant, rhs.orderID)
    }
}

extension PaymentEvent {
    /// This event's dedup identity.
    public var key: PaymentEventKey { PaymentEventKey(tenant: tenant, account: account, providerEventID: providerEventID) }

    /// The order this event is for, if it names one.
    public var orderKey: OrderKey? { orderID.map { OrderKey(tenant: tenant, orderID: $0) } }
}
