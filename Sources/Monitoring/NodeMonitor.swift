import CoreMetrics

/// What a node reports about itself: its metrics, recorded through
/// swift-metrics, and its ``HealthState``.
///
/// A node's poll loop owns its monitor and is the only caller, so the caches
/// need no lock; the handles themselves are thread-safe, and the backend
/// (Prometheus in the executable) reads them on the scrape thread. Each
/// labelled series is made once and cached: recording is a dictionary lookup
/// and an atomic add. Labels are low-cardinality by construction: an op
/// outside ``knownOps`` is counted as `other`, and tables are the node's own
/// or its peers'.
public final class NodeMonitor {
    public let health: HealthState

    /// The control ops counted by name; any other is `other`, so a client
    /// sending random ops cannot grow the series without bound.
    public static let knownOps: Set<String> = [
        "hello", "subscribe", "unsubscribe", "renew", "snapshot-chunk", "query", "status", "tables", "facts", "rules", "explain",
        "simulate", "policy-create", "policy-delete", "policy-list",
    ]

    private var requests: [String: Counter] = [:]
    private var tables: [String: TableSeries] = [:]
    private var rows: [String: Gauge] = [:]
    private var peers: [String: PeerSeries] = [:]
    private let factory: any MetricsFactory
    private let subscriptions: Gauge
    private let triggers: Gauge
    private let longestStall: Gauge
    private let heapBytes: Gauge
    private let residentBytes: Gauge
    private let leaseExpiries: Counter
    private let repliesDropped: Counter
    private let snapshots: Counter
    private let snapshotBytes: Counter
    private let applyTime: Timer
    private let factsAccepted: Counter
    private let factsRejected: Counter

    struct PeerSeries {
        var synced: Gauge
        var lag: Gauge
        var resyncs: Counter
        var refused: Counter
    }

    /// - Parameters:
    ///   - health: what `/livez` and `/readyz` read.
    ///   - factory: where the metrics go; the process-wide one by default,
    ///     which the executable bootstraps.
    public init(health: HealthState = HealthState(), factory: any MetricsFactory = MetricsSystem.factory) {
        self.health = health
        self.factory = factory
        subscriptions = Gauge(label: "policybus_subscriptions", factory: factory)
        triggers = Gauge(label: "policybus_triggers", factory: factory)
        longestStall = Gauge(label: "policybus_loop_longest_stall_seconds", factory: factory)
        heapBytes = Gauge(label: "policybus_heap_bytes", factory: factory)
        residentBytes = Gauge(label: "policybus_resident_bytes", factory: factory)
        leaseExpiries = Counter(label: "policybus_lease_expiries_total", factory: factory)
        repliesDropped = Counter(label: "policybus_replies_dropped_total", factory: factory)
        snapshots = Counter(label: "policybus_snapshots_total", factory: factory)
        snapshotBytes = Counter(label: "policybus_snapshot_bytes_total", factory: factory)
        applyTime = Timer(label: "policybus_transaction_apply_seconds", factory: factory)
        factsAccepted = Counter(label: "policybus_facts_total", dimensions: [("result", "accepted")], factory: factory)
        factsRejected = Counter(label: "policybus_facts_total", dimensions: [("result", "rejected")], factory: factory)
    }

    // MARK: - Requests

    /// A control request answered: `code` is `ok` or the error's stable code.
    public func request(op: String, code: String) {
        let op = Self.knownOps.contains(op) ? op : "other"
        let key = op + " " + code
        if let counter = requests[key] { return counter.increment() }
        let counter = Counter(label: "policybus_requests_total", dimensions: [("op", op), ("code", code)], factory: factory)
        requests[key] = counter
        counter.increment()
    }

    /// A reply the client's connection had no room for, or whose client was
    /// gone, was dropped rather than wait (`status` `replies_dropped`).
    public func replyDropped() {
        repliesDropped.increment()
    }

    // MARK: - Tables

    /// The series of one published table. The node keeps it per table, so
    /// the publish path records without building the table's name.
    public struct TableSeries {
        let deltas: Counter
        let rows: Counter

        /// A delta of `rowCount` rows (added plus removed) went out.
        @inline(__always)
        public func published(rowCount: Int) {
            deltas.increment()
            rows.increment(by: Int64(rowCount))
        }
    }

    /// The series of `table`, made the first time.
    public func series(ofTable table: String) -> TableSeries {
        if let series = tables[table] { return series }
        let series = TableSeries(
            deltas: Counter(label: "policybus_deltas_published_total", dimensions: [("table", table)], factory: factory),
            rows: Counter(label: "policybus_rows_published_total", dimensions: [("table", table)], factory: factory))
        tables[table] = series
        return series
    }

    /// A delta of `rowCount` rows (added plus removed) went out for `table`.
    public func published(table: String, rowCount: Int) {
        series(ofTable: table).published(rowCount: rowCount)
    }

    /// `table` is no longer published: its series (deltas, rows published,
    /// the rows gauge) go from the registry, so that tables clients open and
    /// leave (a data source's, by subscribing to names) cannot grow it.
    /// Published again, its counters start from zero.
    public func forget(table: String) {
        if let series = tables.removeValue(forKey: table) {
            series.deltas.destroy()
            series.rows.destroy()
        }
        rows.removeValue(forKey: table)?.destroy()
    }

    /// `table` now holds `count` rows; the node calls this for the tables a
    /// change touched, with a count it keeps anyway.
    public func rows(of table: String, count: Int) {
        let gauge = rows[table] ?? {
            let made = Gauge(label: "policybus_table_rows", dimensions: [("table", table)], factory: factory)
            rows[table] = made
            return made
        }()
        gauge.record(count)
    }

    /// `count` snapshots were sent to a subscriber in one reply of `bytes` bytes.
    public func snapshotSent(count: Int = 1, bytes: Int) {
        snapshots.increment(by: Int64(count))
        snapshotBytes.increment(by: Int64(bytes))
    }

    /// One transaction took `nanoseconds` to apply in the engine.
    public func transactionApplied(nanoseconds: UInt64) {
        applyTime.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    /// A data source accepted or rejected fact changes (rows).
    public func facts(accepted: Int = 0, rejected: Int = 0) {
        if accepted > 0 { factsAccepted.increment(by: Int64(accepted)) }
        if rejected > 0 { factsRejected.increment(by: Int64(rejected)) }
    }

    /// The longest the node's poll loop has been held by one turn's work
    /// since it started: how long heartbeats and other clients waited.
    public func loopLongestStall(nanoseconds: UInt64) {
        longestStall.record(Double(nanoseconds) / 1e9)
    }

    /// The process's live heap and resident set (`ProcessMemory`), once a second.
    public func memory(heapBytes heap: Int?, residentBytes resident: Int?) {
        if let heap { heapBytes.record(heap) }
        if let resident { residentBytes.record(resident) }
    }

    // MARK: - Subscriptions

    /// The node's current subscriptions: (client, table) pairs.
    public func subscriptions(_ count: Int) {
        subscriptions.record(count)
    }

    /// The engine's current triggers (one per subscribed table).
    public func triggers(_ count: Int) {
        triggers.record(count)
    }

    public func leaseExpired() {
        leaseExpiries.increment()
    }

    // MARK: - Peers

    /// A table read from a peer became synced or not. Not synced makes the
    /// node not ready, with `reason` in `/readyz`.
    public func peerTable(_ table: String, synced: Bool, reason: String = "not synced") {
        peer(table).synced.record(synced ? 1 : 0)
        if synced {
            health.pass(.peerTable(table))
        } else {
            health.fail(.peerTable(table), reason)
        }
    }

    /// How many sequence numbers the node's copy of `table` is behind its
    /// publisher (0 when in step).
    public func peerTable(_ table: String, lag: Int) {
        peer(table).lag.record(lag)
    }

    /// The node took a fresh snapshot of `table` after a gap, a new epoch or silence.
    public func peerTableResynced(_ table: String) {
        peer(table).resyncs.increment()
    }

    /// A change of `table` went over the peer transaction budget and was rolled back.
    public func peerTableRefused(_ table: String) {
        peer(table).refused.increment()
    }

    /// The node no longer reads `table` (its rules stopped needing it): it no
    /// longer counts against readiness.
    public func peerTableDropped(_ table: String) {
        health.pass(.peerTable(table))
    }

    private func peer(_ table: String) -> PeerSeries {
        if let series = peers[table] { return series }
        let dimensions = [("table", table)]
        let series = PeerSeries(
            synced: Gauge(label: "policybus_peer_table_synced", dimensions: dimensions, factory: factory),
            lag: Gauge(label: "policybus_peer_table_seq_lag", dimensions: dimensions, factory: factory),
            resyncs: Counter(label: "policybus_peer_table_resyncs_total", dimensions: dimensions, factory: factory),
            refused: Counter(label: "policybus_peer_table_refused_total", dimensions: dimensions, factory: factory))
        peers[table] = series
        return series
    }
}
