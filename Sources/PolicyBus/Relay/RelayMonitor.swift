import CoreMetrics
import Logging
import Monitoring

/// What a relay reports about itself (docs/OPERATIONS.md, "Relays"): what it
/// forwarded each way, its downstream connections and topics, and its
/// upstream's state, recorded through swift-metrics; and its
/// ``HealthState``, which `/livez` and `/readyz` read.
///
/// The relay's loop owns it and is its only caller; the handles are
/// thread-safe and the backend reads them on the scrape thread. Every series
/// is made once, in `init`: the labels are fixed words. The stop log reads
/// the same counters (``totals``), so it says what `/metrics` said.
final class RelayMonitor {
    let health: HealthState

    /// A counter that also keeps its total, on the loop's thread: a
    /// swift-metrics handle cannot be read back, and without `--metrics` it
    /// is a no-op one.
    final class Tally {
        let counter: Counter
        private(set) var total: Int64 = 0

        init(_ label: String, dimensions: [(String, String)] = [], factory: any MetricsFactory) {
            counter = Counter(label: label, dimensions: dimensions, factory: factory)
        }

        func increment(by amount: Int64 = 1) {
            total += amount
            counter.increment(by: amount)
        }
    }

    /// One path through the relay: messages and their bytes.
    struct Flow {
        let messages: Tally
        let bytes: Tally

        init(_ direction: String, _ kind: String, factory: any MetricsFactory) {
            let dimensions = [("direction", direction), ("kind", kind)]
            messages = Tally("policybus_relay_messages_total", dimensions: dimensions, factory: factory)
            bytes = Tally("policybus_relay_bytes_total", dimensions: dimensions, factory: factory)
        }

        /// One message of `frames` passed.
        func passed(_ frames: some Collection<[UInt8]>) {
            messages.increment()
            bytes.increment(by: Int64(frames.reduce(0) { $0 + $1.count }))
        }
    }

    /// Deltas and heartbeats, node to subscribers.
    let dataDown: Flow
    /// Subscribe and unsubscribe messages, subscribers to node.
    let subscriptionsUp: Flow
    /// Control requests, clients to node.
    let requestsUp: Flow
    /// Control replies, node to clients.
    let repliesDown: Flow
    let requestsDropped: Tally
    let repliesDropped: Tally
    let connections: Gauge
    let connectionsOpened: Tally
    let topics: Gauge
    let upstreamUp: Gauge
    let upstreamReconnects: Tally

    init(health: HealthState, factory: any MetricsFactory) {
        self.health = health
        dataDown = Flow("down", "data", factory: factory)
        subscriptionsUp = Flow("up", "subscription", factory: factory)
        requestsUp = Flow("up", "request", factory: factory)
        repliesDown = Flow("down", "reply", factory: factory)
        requestsDropped = Tally("policybus_relay_requests_dropped_total", factory: factory)
        repliesDropped = Tally("policybus_relay_replies_dropped_total", factory: factory)
        connections = Gauge(label: "policybus_relay_downstream_connections", factory: factory)
        connectionsOpened = Tally("policybus_relay_downstream_connections_opened_total", factory: factory)
        topics = Gauge(label: "policybus_relay_topics", factory: factory)
        upstreamUp = Gauge(label: "policybus_relay_upstream_up", factory: factory)
        upstreamReconnects = Tally("policybus_relay_upstream_reconnects_total", factory: factory)
    }

    /// What passed since the start, for the stop log: the counters' totals.
    var totals: Logger.Metadata {
        [
            "requests": "\(requestsUp.messages.total)", "requests.dropped": "\(requestsDropped.total)",
            "replies": "\(repliesDown.messages.total)", "replies.dropped": "\(repliesDropped.total)",
            "data.frames": "\(dataDown.messages.total)",
            "data.bytes": "\(dataDown.bytes.total)", "clients.opened": "\(connectionsOpened.total)",
            "upstream.reconnects": "\(upstreamReconnects.total)",
        ]
    }
}
