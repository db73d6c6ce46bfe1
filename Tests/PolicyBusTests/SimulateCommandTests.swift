import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// The `simulate` op and `policybus simulate`, against a real engine
    /// reading a real data source: the deltas a change would give, and the
    /// engine, its subscribers, seqs and log left as they were.
    @Suite(.serialized) struct SimulateCommandTests {
        static let policy = """
            p(x) :- d:q(x), gt(x, 2)
            ok(x) :- p(x), not bad(x)
            bad(4)
            """

        /// A data source `d` with q = 1, 3, 4, an engine `E` with `policy`
        /// as `c` (p = 3, 4; ok = 3) and a data directory, and a subscriber of c:p and c:ok.
        func withEngine(_ body: (Processes, String, BusProcess) async throws -> Void) async throws {
            let dataDir = NSTemporaryDirectory() + "policybus-simulate-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            try await withProcesses { processes in
                let facts = try temporaryFile(#"{"q": [[1], [3], [4]]}"#, suffix: ".json")
                let (_, source) = try await processes.dataSource("d", extra: ["--facts", facts])
                let (_, engine) = try await processes.engine(
                    "E", policies: [("c", Self.policy)], peers: [("d", source)], extra: ["--data-dir", dataDir])
                _ = try await eventually("c:p from the peer") { try await queryRows(engine, "c:p") == [[.int(3)], [.int(4)]] ? true : nil }
                let subscriber = try processes.subscriber(engine, ["c:p", "c:ok"])
                _ = try await subscriber.jsonLine(1)
                try await body(processes, engine, subscriber)
            }
        }

        func changes(_ json: String) throws -> String { try temporaryFile(json, suffix: ".json") }

        /// Seqs of the published tables, the log's record count, and the tables' rows.
        func observed(_ engine: String) async throws -> [String: JSON] {
            let status = try await request(engine, "status")
            return [
                "tables": status["tables"] ?? .null, "records": status["durability"]?["records"] ?? .null,
                "p": .array(try await queryRows(engine, "c:p").map(JSON.array).sorted { $0.text < $1.text }),
                "ok": .array(try await queryRows(engine, "c:ok").map(JSON.array).sorted { $0.text < $1.text }),
                "rules": try await request(engine, "rules", ["action": .string("list"), "policy": .string("c")])["rules"] ?? .null,
            ]
        }

        @Test func theCommandPrintsTheDeltasAndLeavesEverythingAsItWas() async throws {
            try await withEngine { _, engine, subscriber in
                let before = try await observed(engine)
                let file = try changes("""
                    [{"op": "facts", "action": "insert", "table": "d:q", "rows": [[5], [1]]},
                     {"op": "rules", "action": "delete", "policy": "c", "rule": "bad(4)"},
                     {"op": "rules", "action": "insert", "policy": "c", "rule": "bad(5)"}]
                    """)
                let text = try await runPolicybus(["simulate", "--connect", engine, "--changes", file, "--table", "c:p", "--table", "c:ok"])
                #expect(text.status == 0, "\(text.stderr)")
                #expect(text.stdout == "c:p: 1 added, 0 removed\n  +p(5)\nc:ok: 1 added, 0 removed\n  +ok(4)\n")
                let json = try await runPolicybus(["simulate", "--connect", engine, "--changes", file, "--table", "c:ok", "--json"])
                #expect(json.status == 0, "\(json.stderr)")
                let four: JSON = .array([.array([.int(4)])])
                #expect(try JSON.parse(json.stdout)["deltas"] == .array([.object(["table": .string("c:ok"), "added": four, "removed": .array([])])]))

                #expect(try await observed(engine) == before, "no row, rule, seq or log record moved")
                // Nothing was published: the next line the subscriber prints is
                // the real change's, one seq after the snapshot.
                let snapshots = [try await subscriber.jsonLine(0), try await subscriber.jsonLine(1)]
                let snapshotSeq = try #require(snapshots.first { $0["table"] == .string("c:ok") }?["seq"]?.intValue)
                _ = try await request(engine, "rules", ["action": .string("delete"), "policy": .string("c"), "rule": .string("bad(4)")])
                let delta = try await subscriber.jsonLine(2)
                #expect(delta["table"] == .string("c:ok") && delta["added"] == four && delta["seq"]?.intValue == snapshotSeq + 1, "\(delta)")
            }
        }

        @Test func badChangesAreRefusedWithTheirCodesAndChangeNothing() async throws {
            try await withEngine { processes, engine, _ in
                let before = try await observed(engine)
                let refused: [(String, [String], String)] = [
                    (#"{"op": "facts"}"#, ["--table", "c:p"], "error[bad-request]"),
                    (#"[{"op": "query", "query": "c:p"}]"#, ["--table", "c:p"], "error[bad-request]"),
                    (#"[{"op": "rules", "action": "list", "policy": "c"}]"#, ["--table", "c:p"], "error[bad-request]"),
                    (#"[{"op": "rules", "action": "insert", "policy": "nosuch", "rule": "r(1)"}]"#, ["--table", "c:p"], "error[unknown-policy]"),
                    (#"[{"op": "rules", "action": "insert", "policy": "c", "rule": "r(x) :- "}]"#, ["--table", "c:p"], "error[syntax-error]"),
                    (#"[{"op": "facts", "action": "insert", "table": "other:t", "rows": [[1]]}]"#, ["--table", "c:p"], "error[unknown-table]"),
                    (#"[{"op": "facts", "action": "insert", "table": "c:bad", "rows": [[1, 2]]}]"#, ["--table", "c:p"], "error[arity-mismatch]"),
                    (#"[]"#, ["--table", "other:t"], "error[unknown-table]"),
                    (#"[{"op": "facts", "action": "insert", "table": "c:q", "rows": 5}]"#, ["--table", "c:p"], "error[bad-request]"),
                    (#"[1, 2"#, ["--table", "c:p"], "error[bad-json]"),
                ]
                for (json, tables, error) in refused {
                    let run = try await runPolicybus(["simulate", "--connect", engine, "--changes", try changes(json)] + tables)
                    #expect(run.status == 1, "\(json): \(run.stderr)")
                    #expect(run.stderr.contains(error), "\(json): \(run.stderr)")
                }
                let usage = try await runPolicybus(["simulate", "--connect", engine, "--changes", try changes("[]")])
                #expect(usage.status == 64, "no --table: \(usage.stderr)")
                let empty = try await runPolicybus(["simulate", "--connect", engine, "--changes", try changes("[]"), "--table", "c:p"])
                #expect(empty.stdout == "c:p: 0 added, 0 removed\n", "\(empty.stderr)")
                #expect(try await observed(engine) == before)

                let (_, source) = try await processes.dataSource("other")
                let atSource = try await runPolicybus(["simulate", "--connect", source, "--changes", try changes("[]"), "--table", "other:t"])
                #expect(atSource.stderr.contains("error[not-supported]"), "\(atSource.stderr)")
            }
        }
    }
}
