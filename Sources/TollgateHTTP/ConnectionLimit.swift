import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdCore
import Metrics

/// Caps open connections on the edge listener and publishes the open count as a gauge.
/// Connections beyond the cap wait in the kernel's accept backlog rather than being refused.
struct ConnectionLimit: AvailableConnectionsDelegate {
    let maximum: Int
    var open = 0
    let gauge = Gauge(label: "tollgate_http_open_connections")

    init(maximum: Int) {
        self.maximum = maximum
    }

    mutating func connectionOpened() {
        open += 1
        gauge.record(open)
    }

    mutating func connectionClosed() {
        open -= 1
        gauge.record(open)
    }

    func isAcceptingNewConnections() -> Bool { open < maximum }
}
