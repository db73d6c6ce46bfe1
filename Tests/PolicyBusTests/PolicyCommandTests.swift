import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// Policies created and deleted while the engine runs: the `policy-*`
    /// ops and `policybus policy`, against real engines.
    @Suite(.serialized) struct PolicyCommandTests {
        static let base = "p(x) :- q(x)\nq(1)\nq(2)"

        /// The error code of a refused request; nil when it was accepted.
        func refusal(_ endpoint: String, _ op: String, _ fields: [String: JSON] = [:]) async -> String? {
            do {
                _ = try await request(endpoint, op, fields)
                return nil
            } catch let error as BusError {
                return error.code.rawValue
            } catch {
                return "\(error)"
            }
        }

        func policies(_ endpoint: String) async throws -> [String] {
            try await request(endpoint, "policy-list")["policies"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        }

        @Test func theCommandCreatesListsAndDeletesAndRulesListShowsIdsAndLines() async throws {
            try await withProcesses { processes in
                let (_, endpoint) = try await processes.engine("E", policies: [("base", Self.base)], peers: [])
                let file = try temporaryFile("s(1)\n\nr(x) :- s(x)")
                let created = try await runPolicybus(["policy", "create", "fresh", "--file", file, "--connect", endpoint])
                #expect(created.status == 0, "\(created.stderr)")
                #expect(try await queryRows(endpoint, "fresh:r") == [[.int(1)]])

                let list = try await runPolicybus(["policy", "list", "--connect", endpoint])
                #expect(list.status == 0, "\(list.stderr)")
                #expect(list.stdout == "base  1 rule\nfresh  1 rule\n")

                let rules = try await runPolicybus(["rules", "list", "fresh", "--connect", endpoint])
                #expect(rules.status == 0, "\(rules.stderr)")
                let fields = rules.stdout.split(separator: "\n").map { $0.components(separatedBy: "  ") }
                #expect(fields.count == 1)
                #expect(fields.first?.count == 3 && fields.first?[0].count == 16, "\(rules.stdout)")
                #expect(fields.first?.dropFirst() == ["fresh:3", "r(x) :- s(x)"], "\(rules.stdout)")
                let again = try await runPolicybus(["rules", "list", "fresh", "--connect", endpoint])
                #expect(again.stdout == rules.stdout, "ids are stable")

                let deleted = try await runPolicybus(["policy", "delete", "fresh", "--connect", endpoint])
                #expect(deleted.status == 0, "\(deleted.stderr)")
                #expect(try await policies(endpoint) == ["base"])
                let afterDelete = await refusal(endpoint, "query", ["query": .string("fresh:r")])
                #expect(afterDelete == "unknown-table", "\(afterDelete ?? "accepted")")

                let unknown = try await runPolicybus(["policy", "delete", "fresh", "--connect", endpoint])
                #expect(unknown.status == 1)
                #expect(unknown.stderr.contains("error[unknown-policy]"), "\(unknown.stderr)")
                let usage = try await runPolicybus(["policy", "create", "--connect", endpoint])
                #expect(usage.status == 64, "\(usage.stderr)")
            }
        }

        @Test func badRequestsAreRefusedWithTheirCodesAndChangeNothing() async throws {
            try await withProcesses { processes in
                let (_, endpoint) = try await processes.engine(
                    "E", policies: [("base", Self.base), ("reader", "t(x) :- base:p(x)")], peers: [("nova", "tcp://127.0.0.1:9")])
                let cases: [([String: JSON], String, String)] = [
                    ([:], "policy-create", "bad-request"),
                    (["name": .int(3)], "policy-create", "bad-request"),
                    (["name": .string("")], "policy-create", "bad-policy-name"),
                    (["name": .string("1x")], "policy-create", "bad-policy-name"),
                    (["name": .string("a:b")], "policy-create", "bad-policy-name"),
                    (["name": .string(String(repeating: "a", count: 300))], "policy-create", "too-large"),
                    (["name": .string("base")], "policy-create", "policy-exists"),
                    (["name": .string("nova")], "policy-create", "bad-policy-name"),
                    (["name": .string("nosuch")], "policy-delete", "unknown-policy"),
                    (["name": .string("new1"), "rule": .string("r(x) :- ")], "policy-create", "syntax-error"),
                    (["name": .string("new1"), "rule": .string("r(x) :- q(x)\nr(1, 2)")], "policy-create", "arity-mismatch"),
                    (["name": .string("new1"), "rule": .int(5)], "policy-create", "bad-request"),
                    (["name": .string("base")], "policy-delete", "policy-in-use"),
                ]
                for (fields, op, code) in cases {
                    #expect(await refusal(endpoint, op, fields) == code, "\(op) \(fields)")
                }
                #expect(try await policies(endpoint) == ["base", "reader"])
                #expect(try await queryRows(endpoint, "reader:t") == [[.int(1)], [.int(2)]], "nothing changed")

                // Delete the reading rule, and the policy may go.
                _ = try await request(
                    endpoint, "rules", ["action": .string("delete"), "policy": .string("reader"), "rule": .string("t(x) :- base:p(x)")])
                #expect(await refusal(endpoint, "policy-delete", ["name": .string("base")]) == nil)
                #expect(try await policies(endpoint) == ["reader"])

                let (_, source) = try await processes.dataSource("d")
                #expect(await refusal(source, "policy-create", ["name": .string("x")]) == "not-supported")
            }
        }

        /// A rule reading a table of a service that is neither a peer nor a
        /// policy keeps the engine not ready; creating that policy makes the
        /// table local, and the engine ready.
        @Test func creatingThePolicyARuleReadsMakesItsTableLocal() async throws {
            try await withProcesses { processes in
                let (_, endpoint) = try await processes.engine("E", policies: [("reader", "t(x) :- fresh:p(x)")], peers: [])
                _ = try await eventually("not ready for fresh:p") {
                    try await request(endpoint, "status")["ready"] == .bool(false) ? true : nil
                }
                _ = try await request(endpoint, "policy-create", ["name": .string("fresh")])
                _ = try await request(endpoint, "rules", ["action": .string("insert"), "policy": .string("fresh"), "rule": .string("p(7)")])
                #expect(try await queryRows(endpoint, "reader:t") == [[.int(7)]])
                _ = try await eventually("ready") { try await request(endpoint, "status")["ready"] == .bool(true) ? true : nil }
            }
        }

        /// A subscriber of a deleted policy's table sees the delta to empty,
        /// and then its resubscribe refused (`unknown-policy`).
        @Test func subscribersGetTheDeltaToEmptyThenARefusal() async throws {
            try await withProcesses { processes in
                let (_, endpoint) = try await processes.engine("E", policies: [("base", Self.base)], peers: [])
                let subscriber = try processes.subscriber(endpoint, ["base:p"])
                _ = try await subscriber.jsonLine(0)
                #expect(try contents(from: subscriber.stdoutLines, table: "base:p") == [[.int(1)], [.int(2)]])
                _ = try await request(endpoint, "policy-delete", ["name": .string("base")])
                let delta = try await subscriber.jsonLine(1)
                #expect(delta["kind"] == .string("delta"))
                #expect(try contents(from: subscriber.stdoutLines, table: "base:p") == [])
                #expect(try await subscriber.exit() == 1)
                // Under --json the refusal is a line of the output, in the one error shape.
                let refusal = try #require(subscriber.stdoutLines.last.map { try JSON.parse($0) })
                #expect(refusal["error"]?["code"] == .string("unknown-policy"), "\(subscriber.stdoutText)")
                #expect(refusal["error"]?["message"]?.stringValue?.hasPrefix("base:p: ") == true, "\(subscriber.stdoutText)")
                let status = try await request(endpoint, "status")
                #expect(status["subscriptions"] == .array([]))
                #expect(status["triggers"] == .array([]))
            }
        }

        /// Created and deleted policies (one from the command line) come back
        /// the same after `kill -9`, and after the log is compacted at start.
        @Test func createAndDeleteSurviveKill9AndCompaction() async throws {
            let dataDir = NSTemporaryDirectory() + "policybus-policies-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            let base = try temporaryFile(Self.base)
            try await withProcesses { processes in
                func serve(control: String, compact: Bool = false) async throws -> (BusProcess, String) {
                    var arguments = ["serve", "--name", "E", "--control", control, "--data-dir", dataDir, "--policy", "base=\(base)"]
                    if compact { arguments += ["--compact-above", "0"] }
                    let process = try processes.start("E", arguments)
                    return (process, try await process.endpoints().control)
                }
                func state(_ endpoint: String) async throws -> [String: JSON] {
                    [
                        "policies": .array(try await policies(endpoint).map(JSON.string)),
                        "fresh": try await request(endpoint, "rules", ["action": .string("list"), "policy": .string("fresh")])["entries"] ?? .null,
                        "fresh:r": .array(try await queryRows(endpoint, "fresh:r").map(JSON.array)),
                    ]
                }
                let (engine, endpoint) = try await serve(control: "tcp://127.0.0.1:*")
                _ = try await request(endpoint, "policy-create", ["name": .string("gone")])
                _ = try await request(endpoint, "facts", ["action": .string("insert"), "table": .string("gone:t"), "rows": .array([.array([.int(1)])])])
                _ = try await request(endpoint, "policy-delete", ["name": .string("gone")])
                _ = try await request(endpoint, "policy-create", ["name": .string("fresh"), "rule": .string("r(x) :- s(x)\ns(5)")])
                _ = try await request(endpoint, "policy-delete", ["name": .string("base")])
                let before = try await state(endpoint)
                #expect(before["policies"] == .array([.string("fresh")]))
                #expect(before["fresh:r"] == .array([.array([.int(5)])]))
                engine.signal(SIGKILL)
                _ = try await engine.exit()

                let (restarted, again) = try await serve(control: endpoint)
                #expect(try await state(again) == before)
                #expect(await refusal(again, "query", ["query": .string("gone:t")]) == "unknown-table")
                #expect(try await request(again, "status")["durability"]?["skipped"]?.intValue == 0)
                restarted.signal(SIGKILL)
                _ = try await restarted.exit()

                let (compacted, third) = try await serve(control: endpoint, compact: true)
                #expect(try await compacted.stderrContains("data log compacted"))
                #expect(try await state(third) == before)
                compacted.signal(SIGKILL)
                _ = try await compacted.exit()
                let (_, fourth) = try await serve(control: endpoint)
                #expect(try await state(fourth) == before, "the compacted log rebuilds the same state")
            }
        }
    }
}
