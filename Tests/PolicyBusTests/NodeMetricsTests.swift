import Monitoring
import PolicyBus
import PolicyEngine
import Prometheus
import Testing
import ZeroMQ

/// The node's metrics hooks, in process: a data source recording into its
/// own Prometheus registry, read back as a scrape would.
@Suite struct NodeMetricsTests {
    let registry = PrometheusCollectorRegistry()

    func scrape() -> PrometheusSamples {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return PrometheusSamples(parsing: String(decoding: bytes, as: UTF8.self))
    }

    /// A client that subscribes and goes silent: its snapshot is counted,
    /// then its lease expiry, and the subscription gauge goes back to 0.
    @Test func aSnapshotAndALeaseExpiryAreCounted() async throws {
        let registry = registry
        let node = try NodeThread.start(name: "test-source") { () throws(BusError) -> Node in
            var options = NodeOptions(name: "data", control: "tcp://127.0.0.1:*")
            options.leaseMilliseconds = 300
            options.metricsFactory = PrometheusMetricsFactory(registry: registry)
            let context: Context
            do { context = try Context() } catch { throw BusError(.transport, "\(error)") }
            return try Node.dataSource(options, tables: ["q": [[.int(1)], [.int(2)]]], context: context)
        }
        do {
            try await subscribeAndGoSilent(node)
        } catch {
            _ = try? await offPool { node.stop() }
            throw error
        }
        _ = try await offPool { node.stop() }
    }

    func subscribeAndGoSilent(_ node: NodeThread) async throws {
        let reply = try await request(node.controlEndpoint, "subscribe", ["tables": .array([.string("data:q")])])
        #expect(reply["tables"]?["data:q"]?["rows"]?.arrayValue?.count == 2, "\(reply)")
        let subscribed = scrape()
        #expect(subscribed["policybus_snapshots_total"] == 1)
        #expect((subscribed["policybus_snapshot_bytes_total"] ?? 0) > 0)
        #expect(subscribed["policybus_requests_total", ["op": "subscribe", "code": "ok"]] == 1)
        #expect(subscribed["policybus_facts_total", ["result": "accepted"]] == 2, "the --facts rows")

        // Nothing renews the lease; the node ends it.
        let expired = try await eventually("the lease expiry counted") { () -> PrometheusSamples? in
            let samples = scrape()
            return samples["policybus_lease_expiries_total"] == 1 ? samples : nil
        }
        #expect(expired["policybus_subscriptions"] == 0)
    }
}
