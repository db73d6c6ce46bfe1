import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// `serve --data-dir`: rules and facts accepted through the control API
    /// survive `kill -9`, and a damaged log tail is reported, never fatal.
    @Suite(.serialized) struct DurabilityTests {
        static let policy = "p(x) :- q(x), gt(x, 2)."

        func serve(_ processes: Processes, control: String, dataDir: String, policy: String) async throws -> (BusProcess, String) {
            let process = try processes.start(
                "E", ["serve", "--name", "E", "--control", control, "--data-dir", dataDir, "--policy", "c=\(policy)", "--heartbeat-ms", "200"])
            return (process, try await process.endpoints().control)
        }

        func rules(_ endpoint: String, _ action: String, _ text: String) async throws {
            _ = try await request(endpoint, "rules", ["action": .string(action), "policy": .string("c"), "rule": .string(text)])
        }

        func facts(_ endpoint: String, _ action: String, _ rows: [Int64]) async throws {
            _ = try await request(
                endpoint, "facts", ["action": .string(action), "table": .string("c:q"), "rows": .array(rows.map { .array([.int($0)]) })])
        }

        /// What the engine holds.
        func state(_ endpoint: String) async throws -> [String: JSON] {
            [
                "q": .array(try await queryRows(endpoint, "c:q").sorted { $0.description < $1.description }.map(JSON.array)),
                "p": .array(try await queryRows(endpoint, "c:p").sorted { $0.description < $1.description }.map(JSON.array)),
                "r": .array(try await queryRows(endpoint, "c:r").sorted { $0.description < $1.description }.map(JSON.array)),
                "rules": try await request(endpoint, "rules", ["action": .string("list"), "policy": .string("c")])["rules"] ?? .null,
            ]
        }

        /// An engine with accepted changes, killed with SIGKILL; `body` gets the
        /// data directory, the control endpoint and the state before the kill.
        func withKilledEngine(_ body: (Processes, String, String, String, [String: JSON]) async throws -> Void) async throws {
            let dataDir = NSTemporaryDirectory() + "policybus-durable-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            let policy = try temporaryFile(Self.policy)
            try await withProcesses { processes in
                let (engine, endpoint) = try await serve(processes, control: "tcp://127.0.0.1:*", dataDir: dataDir, policy: policy)
                try await rules(endpoint, "insert", "r(x) :- q(x), lt(x, 4).")
                try await rules(endpoint, "insert", "s(x) :- q(x).")
                try await rules(endpoint, "delete", "s(x) :- q(x).")
                try await facts(endpoint, "insert", [1, 2, 3, 5, 8])
                try await facts(endpoint, "delete", [2, 8])
                _ = try await request(endpoint, "facts", ["action": .string("replace"), "table": .string("c:q"), "rows": .array([[1], [3], [5], [13]].map { .array($0.map(JSON.int)) })])
                let before = try await state(endpoint)
                #expect(before["q"] == .array([[1], [13], [3], [5]].map { .array($0.map(JSON.int)) }))
                engine.signal(SIGKILL)
                _ = try await engine.exit()
                try await body(processes, dataDir, endpoint, policy, before)
            }
        }

        @Test func acceptedRulesAndFactsSurviveKill9() async throws {
            try await withKilledEngine { processes, dataDir, endpoint, policy, before in
                let (_, restarted) = try await serve(processes, control: endpoint, dataDir: dataDir, policy: policy)
                #expect(try await state(restarted) == before)
                let durability = try await request(restarted, "status")["durability"]
                #expect(durability?["warnings"]?.arrayValue == [])
                #expect(durability?["skipped"]?.intValue == 0)
            }
        }

        @Test(arguments: ["torn", "corrupt"])
        func aDamagedLastRecordIsReportedAndEarlierRecordsKept(damage: String) async throws {
            try await withKilledEngine { processes, dataDir, endpoint, policy, before in
                let log = dataDir + "/policy.log"
                let handle = try #require(FileHandle(forUpdatingAtPath: log))
                if damage == "torn" {
                    // A crash in the middle of an append: a header promising more than was written.
                    try handle.seekToEnd()
                    try handle.write(contentsOf: [200, 0, 0, 0, 1, 2, 3, 4] + Array("{\"op\":\"insert-fa".utf8))
                    try handle.close()
                    let (engine, restarted) = try await serve(processes, control: endpoint, dataDir: dataDir, policy: policy)
                    #expect(try await state(restarted) == before)
                    #expect(try await engine.stderrContains("data log repaired"))
                    let warnings = try await request(restarted, "status")["durability"]?["warnings"]?.arrayValue ?? []
                    #expect(warnings.count == 1)
                } else {
                    // Flip a byte inside the last record (the replace's insert of 13).
                    let size = try handle.seekToEnd()
                    try handle.seek(toOffset: size - 3)
                    let byte = try #require(try handle.read(upToCount: 1)?.first)
                    try handle.seek(toOffset: size - 3)
                    try handle.write(contentsOf: [byte ^ 0x40])
                    try handle.close()
                    let (engine, restarted) = try await serve(processes, control: endpoint, dataDir: dataDir, policy: policy)
                    var expected = before
                    expected["q"] = .array([[1], [3], [5]].map { .array($0.map(JSON.int)) })
                    expected["p"] = .array([[3], [5]].map { .array($0.map(JSON.int)) })
                    #expect(try await state(restarted) == expected, "every record before the damaged one is kept")
                    #expect(try await engine.stderrContains("data log repaired"))
                }
            }
        }

        /// A crash can leave zero-filled blocks after the last record: a torn
        /// tail, repaired, with every record kept.
        @Test func aZeroFilledTailIsRepairedAsATornTail() async throws {
            try await withKilledEngine { processes, dataDir, endpoint, policy, before in
                let handle = try #require(FileHandle(forUpdatingAtPath: dataDir + "/policy.log"))
                let size = try handle.seekToEnd()
                try handle.write(contentsOf: [UInt8](repeating: 0, count: 4096))
                try handle.close()
                let (engine, restarted) = try await serve(processes, control: endpoint, dataDir: dataDir, policy: policy)
                #expect(try await state(restarted) == before)
                #expect(try await engine.stderrContains("torn-tail"))
                let warnings = try await request(restarted, "status")["durability"]?["warnings"]?.arrayValue ?? []
                #expect(warnings.count == 1)
                let attributes = try FileManager.default.attributesOfItem(atPath: dataDir + "/policy.log")
                #expect((attributes[.size] as? NSNumber)?.uint64Value == size)
            }
        }

        /// An empty or short log, or one with a bad header, is never started
        /// empty: the engine refuses, names the file and the way out, and
        /// leaves the file as it was.
        @Test(arguments: ["empty", "short", "bad-header"])
        func aLogThatCannotBeReadRefusesToStart(damage: String) async throws {
            try await withKilledEngine { processes, dataDir, endpoint, policy, _ in
                let path = dataDir + "/policy.log"
                var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
                switch damage {
                case "empty": bytes = []
                case "short": bytes = Array(bytes.prefix(4))
                default: bytes[0] ^= 0xFF
                }
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                let refused = try processes.start(
                    "E", ["serve", "--name", "E", "--control", endpoint, "--data-dir", dataDir, "--policy", "c=\(policy)"])
                #expect(try await refused.exit() != 0)
                // The store's code is the error's, not `internal` (which says a bug).
                #expect(try await refused.stderrContains("policybus: error[not-a-log]: data directory"))
                #expect(refused.stderrText.contains("error[internal]") == false, "\(refused.stderrText)")
                #expect(try await refused.stderrContains(path))
                #expect(try await refused.stderrContains("move it out of the data directory"))
                #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == bytes, "the log is left as it was")
            }
        }

        @Test func aLongLogIsCompactedAtStartWithTheSameState() async throws {
            try await withKilledEngine { processes, dataDir, endpoint, policy, _ in
                let (engine, restarted) = try await serve(processes, control: endpoint, dataDir: dataDir, policy: policy)
                for round in 0..<10 {
                    try await facts(restarted, "insert", [100, 101, Int64(200 + round)])
                    try await facts(restarted, "delete", [100, 101])
                }
                let before = try await state(restarted)
                let records = try await request(restarted, "status")["durability"]?["records"]?.intValue ?? 0
                engine.signal(SIGKILL)
                _ = try await engine.exit()
                let compacting = try processes.start(
                    "E", ["serve", "--name", "E", "--control", endpoint, "--data-dir", dataDir, "--policy", "c=\(policy)", "--compact-above", "10"])
                let again = try await compacting.endpoints().control
                #expect(try await state(again) == before)
                let after = try await request(again, "status")["durability"]?["records"]?.intValue ?? 0
                #expect(records > 20 && after < records, "\(records) records before, \(after) after")
                #expect(try await compacting.stderrContains("data log compacted"))
            }
        }

        /// A fact that a rule also derives is still a fact: it is logged, and
        /// after a restart it outlives the rule's support, as it would in memory.
        @Test func aFactThatARuleAlsoDerivesSurvivesKill9() async throws {
            let dataDir = NSTemporaryDirectory() + "policybus-durable-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            let policy = try temporaryFile("q(1).\np(x) :- q(x).")
            let one: JSON = .array([.array([.int(1)])])
            try await withProcesses { processes in
                let (engine, endpoint) = try await serve(processes, control: "tcp://127.0.0.1:*", dataDir: dataDir, policy: policy)
                _ = try await request(endpoint, "facts", ["action": .string("insert"), "table": .string("c:p"), "rows": one])
                #expect(try await request(endpoint, "status")["durability"]?["records"]?.intValue == 1)
                engine.signal(SIGKILL)
                _ = try await engine.exit()
                let (_, restarted) = try await serve(processes, control: endpoint, dataDir: dataDir, policy: policy)
                _ = try await request(restarted, "facts", ["action": .string("delete"), "table": .string("c:q"), "rows": one])
                #expect(try await queryRows(restarted, "c:q").isEmpty)
                #expect(try await queryRows(restarted, "c:p") == [[.int(1)]])
            }
        }

        @Test func aSecondEngineOnTheSameDataDirectoryFailsClearly() async throws {
            let dataDir = NSTemporaryDirectory() + "policybus-durable-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            let policy = try temporaryFile(Self.policy)
            try await withProcesses { processes in
                _ = try await serve(processes, control: "tcp://127.0.0.1:*", dataDir: dataDir, policy: policy)
                let second = try processes.start(
                    "second", ["serve", "--name", "E", "--control", "tcp://127.0.0.1:*", "--data-dir", dataDir, "--policy", "c=\(policy)"])
                #expect(try await second.exit() != 0)
                #expect(try await second.stderrContains("error[locked]"))
            }
        }
    }
}
