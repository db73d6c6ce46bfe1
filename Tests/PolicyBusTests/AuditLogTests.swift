import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// The audit trail and the log of refused requests, read from a real
    /// engine's JSON log lines.
    @Suite struct AuditLogTests {
        typealias Keys = SecurityTests.Keys

        /// The engine's JSON log objects with `message`.
        func logObjects(_ process: BusProcess, message: String) -> [[String: Any]] {
            process.stderrText.split(separator: "\n").compactMap { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
                return object["message"] as? String == message ? object : nil
            }
        }

        func metadata(_ object: [String: Any]) -> [String: String] { object["metadata"] as? [String: String] ?? [:] }

        @Test func everyAcceptedChangeIsAuditedAtNoticeAndEveryRefusalLoggedWithItsCode() async throws {
            let keys = try Keys()
            defer { keys.remove() }
            for name in ["server", "alice"] { try keys.pair(name) }
            try await withProcesses { processes in
                let (engine, control) = try await processes.engine(
                    "E", policies: [("c", "seen(x) :- fact(x)")], peers: [],
                    extra: ["--log-format", "json", "--curve-secret-key", keys.path("server.key")])
                let insert: [String: JSON] = ["action": .string("insert"), "policy": .string("c"), "rule": .string("fact(1)")]
                let facts: [String: JSON] = ["action": .string("insert"), "table": .string("c:fact"), "rows": .array([.array([.int(2)]), .array([.int(3)])])]
                let broken: [String: JSON] = ["action": .string("insert"), "policy": .string("c"), "rule": .string("fact(")]
                let replies = try await ClientKeySecurityTests.requests(control, keys, mode: .anyKey, [
                    ("alice", "auditor", "rules", insert),
                    ("alice", "auditor", "facts", facts),
                    ("alice", "auditor", "rules", broken),
                    ("alice", "auditor", "query", ["query": .string("c:seen")]),
                    ("alice", "auditor", "simulate", ["changes": .array([]), "tables": .array([.string("c:seen")])]),
                    ("alice", "auditor", "policy-create", ["name": .string("fresh")]),
                    ("alice", "auditor", "policy-delete", ["name": .string("fresh")]),
                ])
                #expect(replies[2]["error"]?.stringValue == "syntax-error", "\(replies)")
                #expect(replies[3]["rows"]?.arrayValue?.count == 3, "\(replies)")
                let audits = try await engine.waitFor("four audit records") { process in
                    let found = logObjects(process, message: "audit")
                    return found.count >= 4 ? found : nil
                }
                #expect(audits.count == 4, "the refused insert, the query and simulate are not audited: \(audits)")
                let alice = try keys.publicKey("alice")
                #expect(audits.allSatisfy { $0["level"] as? String == "notice" })
                #expect(metadata(audits[0]) == ["op": "rules insert", "policy": "c", "rule": "fact(1)", "client.id": "auditor", "client.key": alice])
                #expect(metadata(audits[1]) == ["op": "facts insert", "table": "c:fact", "rows": "2", "client.id": "auditor", "client.key": alice])
                #expect(metadata(audits[2]) == ["op": "policy create", "policy": "fresh", "client.id": "auditor", "client.key": alice])
                #expect(metadata(audits[3]) == ["op": "policy delete", "policy": "fresh", "client.id": "auditor", "client.key": alice])

                let refused = try #require(logObjects(engine, message: "request refused").first)
                #expect(refused["level"] as? String == "info")
                #expect(metadata(refused)["code"] == "syntax-error", "\(refused)")
                #expect(metadata(refused)["op"] == "rules")
                #expect(metadata(refused)["client.id"] == "auditor")
            }
        }
    }
}
