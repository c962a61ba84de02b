import HTTPTypes
import Hummingbird
import HummingbirdCore
import Metrics

/// Caps open connections on the edge listener and publishes the open count as a gauge.
/// Connections beyond the cap wait in the kernel's accept backlog rather than being refused.
///
/// Connections held in the ``Tarpit`` are not counted: they are accepted sockets too (so
/// Hummingbird reports them here), but counting them would let a cooling-off attacker fill the
/// cap with connections the edge is holding on purpose. The tarpit has its own bound.
struct ConnectionLimit: AvailableConnectionsDelegate {
    let maximum: Int
    let tarpit: Tarpit
    var accepted = 0
    let gauge = Gauge(label: "tollgate_http_open_connections")

    init(maximum: Int, tarpit: Tarpit) {
        self.maximum = maximum
        self.tarpit = tarpit
    }

    /// Accepted connections that are not held in the tarpit.
    private var open: Int { max(0, accepted - tarpit.count) }

    mutating func connectionOpened() {
        accepted += 1
        gauge.record(open)
    }

    mutating func connectionClosed() {
        accepted -= 1
        gauge.record(open)
    }

    func isAcceptingNewConnections() -> Bool { open < maximum }
}
