import Foundation
import Monitoring
import PolicyBus
import PolicyEngine
import Testing
import TestSupport
import ZeroMQ

extension ProcessSuites {
    /// `--metrics`: real `serve` and `publish` processes scraped over real
    /// HTTP, their counters moved by known requests, and `/readyz` following
    /// a peer that is not up yet, then up, then killed.
    @Suite struct MetricsEndpointTests {
        /// `status --ready`'s exit status and output.
        func statusReady(_ processes: Processes, _ control: String) async throws -> (status: Int32, output: String) {
            let status = try processes.start("status --ready", ["status", "--connect", control, "--ready", "--timeout", "30"])
            let code = try await status.exit(timeout: 60)
            await status.waitForEndOfOutput()
            return (code, status.stdoutText)
        }

        func scrape(_ address: String) async throws -> PrometheusSamples {
            let got = try await httpGet(address, "/metrics")
            #expect(got.status == 200)
            #expect(got.contentType?.hasPrefix("text/plain") == true)
            return PrometheusSamples(parsing: got.body)
        }

        /// Waits until `/readyz` answers `status`, and returns its body.
        func readyz(_ address: String, is status: Int, _ what: String) async throws -> String {
            try await eventually("/readyz \(status): \(what)") {
                let got = try await httpGet(address, "/readyz")
                return got.status == status ? got.body : nil
            }
        }

        @Test func anEngineReportsItsRequestsAndItsPeersReadiness() async throws {
            try await withProcesses { processes in
                // Learn a free pair of endpoints for the data source, then stop it: the engine starts without its peer.
                let first = try processes.start("d", ["publish", "--name", "d", "--control", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
                let endpoints = try await first.endpoints()
                _ = try await offPool { first.stop() }

                let (engine, control) = try await processes.engine(
                    "E", policies: [("c", "big(x) :- d:vm(x, size), size > 2")], peers: [("d", endpoints.control)],
                    extra: ["--metrics", "127.0.0.1:*"])
                let metrics = try await engine.metricsAddress()
                let notUp = try await readyz(metrics, is: 503, "the peer is not up")
                #expect(notUp.contains("\"name\":\"d:vm\""), "\(notUp)")
                #expect(try await httpGet(metrics, "/livez").status == 200)
                let notReady = try await statusReady(processes, control)
                #expect(notReady.status == 1 && notReady.output.contains("peer-table d:vm: waiting"), "\(notReady)")

                let source = try processes.start(
                    "d again", ["publish", "--name", "d", "--heartbeat-ms", "200", "--metrics", "127.0.0.1:*", "--control", endpoints.control, "--data", endpoints.data])
                let sourceMetrics = try await source.metricsAddress()
                _ = try await readyz(metrics, is: 200, "the peer is up")
                let ready = try await statusReady(processes, control)
                #expect(ready.status == 0 && ready.output == "ready\n", "\(ready)")

                // Known requests, then their counts.
                let before = try await scrape(metrics)
                let subscriber = try processes.subscriber(control, ["c:big"], extra: ["--timeout", "300"])
                _ = try await subscriber.jsonLine(0)
                source.write("+vm(\"a\", 3)", "+vm(\"b\", 1)", "+vm(\"c\", 5)", "+vm(\"x\")", "+vm(")
                _ = try await subscriber.waitFor("big = {a, c}") { process in
                    (try? contents(from: process.stdoutLines, table: "c:big")) == [[.string("a")], [.string("c")]] ? true : nil
                }
                for _ in 0..<3 { _ = try await request(control, "query", ["query": .string("c:big")]) }
                _ = try? await request(control, "rules", ["action": .string("insert"), "policy": .string("nosuch"), "rule": .string("p(1)")])
                let after = try await eventually("the rows gauge of c:big") { () async throws -> PrometheusSamples? in
                    let samples = try await scrape(metrics)
                    return samples["policybus_table_rows", ["table": "c:big"]] == 2 ? samples : nil
                }
                func moved(_ name: String, _ labels: [String: String] = [:]) -> Double {
                    (after[name, labels] ?? 0) - (before[name, labels] ?? 0)
                }
                #expect(moved("policybus_requests_total", ["op": "query", "code": "ok"]) == 3)
                #expect(moved("policybus_requests_total", ["op": "rules", "code": "unknown-policy"]) == 1)
                #expect(moved("policybus_requests_total", ["op": "subscribe", "code": "ok"]) >= 1)
                #expect(moved("policybus_snapshots_total") >= 1)
                #expect(moved("policybus_snapshot_bytes_total") > 0)
                #expect(after["policybus_deltas_published_total", ["table": "c:big"]] ?? 0 >= 1)
                #expect(after["policybus_rows_published_total", ["table": "c:big"]] == 2)
                #expect(after["policybus_subscriptions"] == 1)
                #expect(after["policybus_triggers"] == 1)
                #expect(after["policybus_peer_table_synced", ["table": "d:vm"]] == 1)
                #expect(after["policybus_peer_table_resyncs_total", ["table": "d:vm"]] != nil)
                #expect(after["policybus_peer_table_seq_lag", ["table": "d:vm"]] != nil)
                #expect(moved("policybus_transaction_apply_seconds_count") >= 1)
                #expect(after["policybus_loop_longest_stall_seconds"] ?? 0 > 0)

                // The data source counts its facts: three rows went in; the one of the wrong arity and the line that does not parse did not.
                let sourceSamples = try await eventually("the data source's fact counts and rows gauge") { () async throws -> PrometheusSamples? in
                    let samples = try await scrape(sourceMetrics)
                    let counted = samples["policybus_facts_total", ["result": "rejected"]] == 2
                    return counted && samples["policybus_table_rows", ["table": "d:vm"]] == 3 ? samples : nil
                }
                #expect(sourceSamples["policybus_facts_total", ["result": "accepted"]] == 3)
                #expect(sourceSamples["policybus_deltas_published_total", ["table": "d:vm"]] == 3)

                // The peer killed: not ready, naming the table, and the loss in the log.
                source.signal(SIGKILL)
                let lost = try await readyz(metrics, is: 503, "the peer was killed")
                #expect(lost.contains("d:vm") && lost.contains("lost"), "\(lost)")
                #expect(try await engine.waitFor("the warning") { $0.stderrText.contains("warning policybus.serve: peer table lost") ? true : nil })
                #expect(try await statusReady(processes, control).status == 1)
                let text = try processes.start("status", ["status", "--connect", control, "--timeout", "30"])
                #expect(try await text.exit(timeout: 60) == 0)
                await text.waitForEndOfOutput()
                #expect(text.stdoutText.contains("peer d:vm NOT SYNCED (lost: nothing heard from d"), "\(text.stdoutText)")
                #expect(text.stdoutText.contains("not ready: peer-table d:vm: lost"), "\(text.stdoutText)")

                // The peer back: ready again, and the table regained at notice.
                _ = try processes.start(
                    "d third", ["publish", "--name", "d", "--heartbeat-ms", "200", "--control", endpoints.control, "--data", endpoints.data])
                _ = try await readyz(metrics, is: 200, "the peer is back")
                #expect(try await engine.waitFor("the notice") { $0.stderrText.contains("notice policybus.serve: peer table regained") ? true : nil })
                #expect(try await httpGet(metrics, "/livez").status == 200)
            }
        }

        /// A table's series go when it closes: a client subscribing to
        /// made-up names at a data source (which opens them empty) and
        /// leaving cannot grow the registry.
        @Test func theSeriesOfAClosedTableGo() async throws {
            try await withProcesses { processes in
                let (source, control) = try await processes.dataSource("d", extra: ["--metrics", "127.0.0.1:*"])
                let metrics = try await source.metricsAddress()
                let tables: [JSON] = (0..<30).map { .string("d:made\($0)") }
                // One client id for both requests (`request` makes a new one each time).
                func send(_ op: String) async throws {
                    _ = try await offPool {
                        let client = try ControlClient(context: try ZeroMQ.Context(), endpoint: control, clientID: "series-test", timeoutMilliseconds: 30_000)
                        defer { client.close() }
                        return try client.request(op, ["tables": .array(tables)])
                    }
                }
                try await send("subscribe")
                let opened = try await scrape(metrics)
                #expect(opened["policybus_deltas_published_total", ["table": "d:made7"]] == 0, "\(opened.values.keys.filter { $0.contains("made7") })")
                try await send("unsubscribe")
                let closed = try await scrape(metrics)
                #expect(!closed.values.keys.contains { $0.contains("d:made") }, "\(closed.values.keys.filter { $0.contains("d:made") }.sorted())")
            }
        }

        @Test func aBadMetricsAddressIsAUsageError() async throws {
            try await withProcesses { processes in
                let process = try processes.start("bad", ["publish", "--name", "d", "--control", "tcp://127.0.0.1:*", "--metrics", "127.0.0.1:99999"])
                #expect(try await process.exit(timeout: 60) == 64)
                #expect(process.stderrText.contains("--metrics"), "\(process.stderrText)")
            }
        }
    }
}
