import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// An engine restarted under a live subscriber answers its `subscribe`
    /// only once the peer tables the subscribed table reads are synced: the
    /// subscriber never sees rows vanish and come back (issue 13).
    @Suite(.serialized) struct TruthfulSnapshotTests {
        static let rows = 3000
        static let restarts = 20
        /// One row of `k:p` per row of `a:r`: a join over both peers.
        static let policy = "p(x, y) :- a:r(x, k), b:s(k, y)"

        /// Two data sources of `rows` rows each, on wildcard ports.
        func dataSources(_ processes: Processes) async throws -> [(String, String)] {
            let r = (0..<Self.rows).map { "[\($0), \($0 % 100)]" }.joined(separator: ",")
            let s = (0..<100).map { "[\($0), \"v\($0)\"]" }.joined(separator: ",")
            let (_, a) = try await processes.dataSource("a", extra: ["--facts", try temporaryFile("{\"r\": [\(r)]}", suffix: ".json")])
            let (_, b) = try await processes.dataSource("b", extra: ["--facts", try temporaryFile("{\"s\": [\(s)]}", suffix: ".json")])
            return [("a", a), ("b", b)]
        }

        /// Rows removed and added after the first snapshot, over a subscriber's
        /// output: each resync's snapshot against the rows before it, and every delta.
        func churn(_ lines: [String]) throws -> (removed: Int, added: Int, snapshots: Int) {
            var rows: Set<[JSON]>?
            var removed = 0, added = 0, snapshots = 0
            for line in lines {
                let json = try JSON.parse(line)
                let listed = { (key: String) in Set((json[key]?.arrayValue ?? []).compactMap(\.arrayValue)) }
                switch json["kind"]?.stringValue {
                case "snapshot":
                    let new = listed("rows")
                    if let old = rows {
                        removed += old.subtracting(new).count
                        added += new.subtracting(old).count
                    }
                    rows = new
                    snapshots += 1
                case "delta":
                    removed += listed("removed").count
                    added += listed("added").count
                    rows?.subtract(listed("removed"))
                    rows?.formUnion(listed("added"))
                default:
                    continue
                }
            }
            return (removed, added, snapshots)
        }

        @Test func aRestartedEngineNeverServesPartialSnapshots() async throws {
            try await withProcesses { processes in
                let peers = try await dataSources(processes)
                var arguments = ["serve", "--name", "engine", "--no-data-dir", "--heartbeat-ms", "200", "--lease-ms", "3000"]
                arguments += ["--policy", "k=\(try temporaryFile(Self.policy))"]
                for (service, endpoint) in peers { arguments += ["--peer", "\(service)=\(endpoint)"] }
                var engine = try processes.start("engine", arguments + ["--control", "tcp://127.0.0.1:*"])
                let endpoints = try await engine.endpoints()
                let subscriber = try processes.subscriber(endpoints.control, ["k:p"], extra: ["--timeout", "600"])
                _ = try await subscriber.waitFor("every row of k:p") { process in
                    (try? contents(from: process.stdoutLines, table: "k:p"))?.count == Self.rows ? true : nil
                }
                let start = Date()
                var probeRows: [Int] = []
                for restart in 1...Self.restarts {
                    let stopping = engine
                    _ = try await offPool { stopping.stop() }
                    engine = try processes.start("engine \(restart)", arguments + ["--control", endpoints.control, "--data", endpoints.data])
                    // A client subscribing the moment the engine listens gets every row too.
                    _ = try await engine.endpoints()
                    let reply = try await request(endpoints.control, "subscribe", ["client": .string("probe-\(restart)"), "tables": .array([.string("k:p")])])
                    probeRows.append(reply["tables"]?["k:p"]?["rows"]?.arrayValue?.count ?? -1)
                    _ = try await subscriber.waitFor("a snapshot from restart \(restart) with every row") { (process: BusProcess) -> Bool? in
                        let lines = process.stdoutLines
                        guard let seen = try? churn(lines), seen.snapshots > restart,
                            (try? contents(from: lines, table: "k:p"))?.count == Self.rows
                        else { return nil }
                        return true
                    }
                }
                let seen = try churn(subscriber.stdoutLines)
                print("TruthfulSnapshotTests: \(Self.restarts) restarts in \(Int(Date().timeIntervalSince(start))) s, \(seen.snapshots) snapshots, rows removed \(seen.removed), added \(seen.added)")
                #expect(probeRows == Array(repeating: Self.rows, count: Self.restarts))
                #expect(seen.removed == 0)
                #expect(seen.added == 0)
            }
        }

        /// A lost peer leaves the derived table published with its last rows,
        /// and `status` calls it stale until the peer is back.
        @Test func aTableWhosePeerIsLostStaysAndIsStale() async throws {
            try await withProcesses { processes in
                let (source, control) = try await processes.dataSource("a", extra: ["--facts", try temporaryFile("{\"r\": [[1, 2], [3, 4]]}", suffix: ".json")])
                let (_, engine) = try await processes.engine("engine", policies: [("k", "p(x) :- a:r(x, _)")], peers: [("a", control)])
                let subscriber = try processes.subscriber(engine, ["k:p"], extra: ["--timeout", "300"])
                _ = try await subscriber.waitFor("k:p = {1, 3}") { process in
                    (try? contents(from: process.stdoutLines, table: "k:p")) == [[.int(1)], [.int(3)]] ? true : nil
                }
                let fresh = try await request(engine, "status")
                #expect(fresh["tables"]?["k:p"]?["stale"] == .bool(false))
                _ = try await offPool { source.stop() }
                let stale = try await eventually("k:p stale in status") { () async throws -> JSON? in
                    let status = try await request(engine, "status")
                    return status["tables"]?["k:p"]?["stale"] == .bool(true) ? status : nil
                }
                #expect(stale["tables"]?["k:p"]?["stale_inputs"] == .array([.string("a:r")]))
                #expect(stale["tables"]?["k:p"]?["rows"] == .int(2))
                #expect(try await queryRows(engine, "k:p") == [[.int(1)], [.int(3)]])
            }
        }
    }
}

extension ProcessSuites.TruthfulSnapshotTests {
    /// A table whose peer is down past the wait is `not-ready`; the
    /// subscriber asks again, and gets every row once the peer is up.
    @Test func notReadyUntilThePeerIsUpThenEveryRow() async throws {
        try await withProcesses { processes in
            let first = try processes.start("a", ["publish", "--name", "a", "--control", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
            let peer = try await first.endpoints()
            _ = try await offPool { first.stop() }
            let (_, engine) = try await processes.engine(
                "engine", policies: [("k", "p(x) :- a:r(x, _)")], peers: [("a", peer.control)], extra: ["--sync-wait-ms", "300"])
            do {
                let reply = try await request(engine, "subscribe", ["client": .string("probe"), "tables": .array([.string("k:p")])])
                Issue.record("expected not-ready, got \(reply)")
            } catch {
                #expect((error as? BusError)?.code == .notReady, "\(error)")
            }
            // A query is refused at once too, not answered with no rows.
            do {
                let rows = try await queryRows(engine, "k:p")
                Issue.record("expected not-ready, got \(rows)")
            } catch {
                #expect((error as? BusError)?.code == .notReady, "\(error)")
            }
            let subscriber = try processes.subscriber(engine, ["k:p"], extra: ["--timeout", "300"])
            let facts = try temporaryFile("{\"r\": [[1, 2], [3, 4]]}", suffix: ".json")
            _ = try processes.start("a again", ["publish", "--name", "a", "--heartbeat-ms", "200", "--facts", facts, "--control", peer.control, "--data", peer.data])
            _ = try await subscriber.waitFor("k:p = {1, 3} once the peer is up") { process in
                (try? contents(from: process.stdoutLines, table: "k:p")) == [[.int(1)], [.int(3)]] ? true : nil
            }
            // Its one snapshot is the full one: nothing partial came first.
            let snapshots = subscriber.stdoutLines.filter { $0.contains("\"snapshot\"") }
            #expect(snapshots.count == 1, "\(snapshots)")
            #expect(try await queryRows(engine, "k:p") == [[.int(1)], [.int(3)]])
        }
    }
}
