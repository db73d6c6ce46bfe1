import Foundation
import PolicyBus
import PolicyEngine
import PolicyStore
import Testing

extension ProcessSuites {
    /// An engine takes `facts` only into its policies' tables (issue 12): a
    /// write into a peer's table would diverge from the peer until the next
    /// resync, and one into an unknown service would be logged and replayed
    /// at every start for nothing.
    @Suite(.serialized) struct EngineFactWriteTests {
        static let policy = "r(x) :- ds:t(x).\nq(1)."

        func write(_ endpoint: String, _ action: String, _ table: String, _ rows: [Int64]) async throws -> JSON {
            let frame = JSON.object([
                "op": .string("facts"), "action": .string(action), "table": .string(table), "rows": .array(rows.map { .array([.int($0)]) }),
            ])
            return try await offPool { try exchange(endpoint, [[Array(frame.text.utf8)]], timeout: 60) }.first.flatMap { $0 } ?? .null
        }

        func serve(_ processes: Processes, peer: String, dataDir: String) async throws -> String {
            let (_, endpoint) = try await processes.engine(
                "e", policies: [("p", Self.policy)], peers: [("ds", peer)], extra: ["--data-dir", dataDir])
            _ = try await eventually("the peer's rows at the engine") { try await queryRows(endpoint, "p:r").count == 2 ? true : nil }
            return endpoint
        }

        @Test func factsIntoAPeersTableOrAnUnknownServiceAreRefusedAndNeverLogged() async throws {
            let dataDir = NSTemporaryDirectory() + "policybus-writes-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            try await withProcesses { processes in
                let (_, peer) = try await processes.dataSource("ds", extra: ["--facts", try temporaryFile(#"{"t": [[1], [2]]}"#, suffix: ".json")])
                let endpoint = try await serve(processes, peer: peer, dataDir: dataDir)
                let before = try await queryRows(endpoint, "ds:t")
                for action in ["insert", "delete", "replace"] {
                    let reply = try await write(endpoint, action, "ds:t", [1, 9])
                    #expect(reply["error"]?["code"]?.stringValue == "read-only-table", "\(action): \(reply)")
                    let unknown = try await write(endpoint, action, "zz:t", [1])
                    #expect(unknown["error"]?["code"]?.stringValue == "unknown-table", "\(action): \(unknown)")
                }
                #expect(try await write(endpoint, "insert", "p:q", [2])["ok"] == .bool(true))
                #expect(try await queryRows(endpoint, "ds:t") == before)
                #expect(try await queryRows(endpoint, "ds:t") == (try await queryRows(peer, "ds:t")))
                #expect(try await queryRows(endpoint, "p:q") == [[.int(1)], [.int(2)]])
                let durability = try await request(endpoint, "status")["durability"]
                #expect(durability?["records"]?.intValue == 1, "only the p:q insert is logged: \(String(describing: durability))")
            }
        }

        /// A log written by an earlier version may hold such writes: they are
        /// skipped at start, with a warning, like any record the engine refuses.
        @Test func earlierLogsWritesIntoAPeersTableAreSkippedAtStart() async throws {
            let dataDir = NSTemporaryDirectory() + "policybus-writes-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            let log = try DurableLog(directory: dataDir)
            try log.append([
                .insertFacts(table: "ds:t", rows: [[.int(9)]]), .insertFacts(table: "zz:t", rows: [[.int(1)]]),
                .insertFacts(table: "p:q", rows: [[.int(3)]]),
            ])
            log.close()
            try await withProcesses { processes in
                let (_, peer) = try await processes.dataSource("ds", extra: ["--facts", try temporaryFile(#"{"t": [[1], [2]]}"#, suffix: ".json")])
                let endpoint = try await serve(processes, peer: peer, dataDir: dataDir)
                let durability = try await request(endpoint, "status")["durability"]
                #expect(durability?["replayed"]?.intValue == 3)
                #expect(durability?["skipped"]?.intValue == 2)
                #expect(try await queryRows(endpoint, "p:q") == [[.int(1)], [.int(3)]])
                #expect(try await queryRows(endpoint, "ds:t") == [[.int(1)], [.int(2)]])
            }
        }
    }
}
