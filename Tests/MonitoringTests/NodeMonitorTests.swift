import CoreMetrics
import Monitoring
import Prometheus
import Testing

/// What a node records comes out of a Prometheus registry as the series the
/// operations guide documents.
@Suite struct NodeMonitorTests {
    let registry = PrometheusCollectorRegistry()
    var monitor: NodeMonitor { NodeMonitor(factory: PrometheusMetricsFactory(registry: registry)) }

    func scrape() -> PrometheusSamples {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return PrometheusSamples(parsing: String(decoding: bytes, as: UTF8.self))
    }

    @Test func requestsAreCountedByOpAndCodeAndUnknownOpsShareOneSeries() {
        let monitor = self.monitor
        monitor.request(op: "query", code: "ok")
        monitor.request(op: "query", code: "ok")
        monitor.request(op: "query", code: "unknown-table")
        for index in 0..<50 { monitor.request(op: "op\(index)", code: "bad-request") }
        let samples = scrape()
        #expect(samples["policybus_requests_total", ["op": "query", "code": "ok"]] == 2)
        #expect(samples["policybus_requests_total", ["op": "query", "code": "unknown-table"]] == 1)
        #expect(samples["policybus_requests_total", ["op": "other", "code": "bad-request"]] == 50)
        #expect(samples.values.keys.filter { $0.hasPrefix("policybus_requests_total") }.count == 3)
    }

    @Test func tablesSnapshotsAndSubscriptions() {
        let monitor = self.monitor
        monitor.published(table: "c:p", rowCount: 3)
        monitor.published(table: "c:p", rowCount: 2)
        monitor.published(table: "c:q", rowCount: 1)
        monitor.rows(of: "c:p", count: 10)
        monitor.rows(of: "c:p", count: 7)
        monitor.snapshotSent(bytes: 100)
        monitor.snapshotSent(count: 2, bytes: 50)
        monitor.subscriptions(4)
        monitor.triggers(2)
        monitor.leaseExpired()
        monitor.replyDropped()
        monitor.replyDropped()
        monitor.facts(accepted: 5, rejected: 2)
        monitor.transactionApplied(nanoseconds: 30_000)
        let samples = scrape()
        #expect(samples["policybus_deltas_published_total", ["table": "c:p"]] == 2)
        #expect(samples["policybus_rows_published_total", ["table": "c:p"]] == 5)
        #expect(samples["policybus_rows_published_total", ["table": "c:q"]] == 1)
        #expect(samples["policybus_table_rows", ["table": "c:p"]] == 7)
        #expect(samples["policybus_snapshots_total"] == 3)
        #expect(samples["policybus_snapshot_bytes_total"] == 150)
        #expect(samples["policybus_subscriptions"] == 4)
        #expect(samples["policybus_triggers"] == 2)
        #expect(samples["policybus_lease_expiries_total"] == 1)
        #expect(samples["policybus_replies_dropped_total"] == 2)
        #expect(samples["policybus_facts_total", ["result": "accepted"]] == 5)
        #expect(samples["policybus_facts_total", ["result": "rejected"]] == 2)
        #expect(samples["policybus_transaction_apply_seconds_count"] == 1)
    }

    @Test func aPeerTableNotSyncedMakesTheNodeNotReadyUntilItSyncs() {
        let monitor = self.monitor
        monitor.health.loopTurned()
        monitor.peerTable("nova:servers", synced: false, reason: "publisher silent")
        monitor.peerTable("nova:servers", lag: 3)
        monitor.peerTableResynced("nova:servers")
        var samples = scrape()
        #expect(samples["policybus_peer_table_synced", ["table": "nova:servers"]] == 0)
        #expect(samples["policybus_peer_table_seq_lag", ["table": "nova:servers"]] == 3)
        #expect(samples["policybus_peer_table_resyncs_total", ["table": "nova:servers"]] == 1)
        let failures = monitor.health.readinessFailures()
        #expect(failures == [HealthState.Failure(check: .peerTable("nova:servers"), reason: "publisher silent")])
        monitor.peerTable("nova:servers", synced: true)
        samples = scrape()
        #expect(samples["policybus_peer_table_synced", ["table": "nova:servers"]] == 1)
        #expect(monitor.health.readinessFailures().isEmpty)
    }
}
