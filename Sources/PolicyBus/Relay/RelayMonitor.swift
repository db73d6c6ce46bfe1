import CoreMetrics
import Monitoring

/// What a relay reports about itself (docs/OPERATIONS.md, "Relays"): what it
/// forwarded each way, its downstream connections and topics, and its
/// upstream's state, recorded through swift-metrics; and its
/// ``HealthState``, which `/livez` and `/readyz` read.
///
/// The relay's loop owns it and is its only caller; the handles are
/// thread-safe and the backend reads them on the scrape thread. Every series
/// is made once, in `init`: the labels are fixed words.
final class RelayMonitor {
    let health: HealthState

    /// One path through the relay: messages and their bytes.
    struct Flow {
        let messages: Counter
        let bytes: Counter

        init(_ direction: String, _ kind: String, factory: any MetricsFactory) {
            let dimensions = [("direction", direction), ("kind", kind)]
            messages = Counter(label: "policybus_relay_messages_total", dimensions: dimensions, factory: factory)
            bytes = Counter(label: "policybus_relay_bytes_total", dimensions: dimensions, factory: factory)
        }

        /// One message of `frames` passed.
        func passed(_ frames: [[UInt8]]) {
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
    let requestsDropped: Counter
    let connections: Gauge
    let topics: Gauge
    let upstreamUp: Gauge
    let upstreamReconnects: Counter

    init(health: HealthState, factory: any MetricsFactory) {
        self.health = health
        dataDown = Flow("down", "data", factory: factory)
        subscriptionsUp = Flow("up", "subscription", factory: factory)
        requestsUp = Flow("up", "request", factory: factory)
        repliesDown = Flow("down", "reply", factory: factory)
        requestsDropped = Counter(label: "policybus_relay_requests_dropped_total", factory: factory)
        connections = Gauge(label: "policybus_relay_downstream_connections", factory: factory)
        topics = Gauge(label: "policybus_relay_topics", factory: factory)
        upstreamUp = Gauge(label: "policybus_relay_upstream_up", factory: factory)
        upstreamReconnects = Counter(label: "policybus_relay_upstream_reconnects_total", factory: factory)
    }
}
