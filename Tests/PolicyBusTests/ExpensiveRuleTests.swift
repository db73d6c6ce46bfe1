import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// Issue 12: a rule that derives without end made an engine deaf until
    /// memory ran out. A `rules` or `facts` request over `--max-derived-rows`
    /// or `--max-computed-bytes` is refused with `too-expensive` and rolled
    /// back: the subscriber sees nothing, the log holds nothing, the engine
    /// serves on; `eval` takes the same flags.
    @Suite(.serialized) struct ExpensiveRuleTests {
        static let policy = "q(1). q(2). q(3). n(0). s(\"a\").\np(x) :- q(x), gt(x, 1)."

        @Test func expensiveRulesAndFactsAreRolledBackAndTheEngineServesOn() async throws {
            let dataDir = NSTemporaryDirectory() + "policybus-expensive-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            try await withProcesses { processes in
                let (engine, endpoint) = try await processes.engine(
                    "e", policies: [("c", Self.policy)], peers: [],
                    extra: ["--data-dir", dataDir, "--max-derived-rows", "20000", "--max-computed-bytes", "100000"])
                let subscriber = try processes.subscriber(endpoint, ["c:p"])
                _ = try await subscriber.jsonLine(0)
                let rulesBefore = try await request(endpoint, "rules", ["action": .string("list"), "policy": .string("c")])["rules"]
                let records = try await request(endpoint, "status")["durability"]?["records"]
                let changes: [(String, [String: JSON])] = [
                    ("rules", ["action": .string("insert"), "policy": .string("c"), "rule": .string("n(y) :- n(x), y = x + 1")]),
                    ("rules", ["action": .string("insert"), "policy": .string("c"), "rule": .string("s(y) :- s(x), concat(x, \"ab\", y)")]),
                    ("rules", ["action": .string("insert"), "policy": .string("c"), "rule": .string("big(a, b, c) :- w(a), w(b), w(c)\nq(9)")]),
                ]
                // The cross product needs rows to multiply: 40 of them make 64,000 derivations.
                _ = try await request(endpoint, "facts", ["action": .string("insert"), "table": .string("c:w"), "rows": .array((0..<40).map { .array([.int($0)]) })])
                let widened = try await request(endpoint, "status")["durability"]?["records"]
                for (op, fields) in changes {
                    let reply = try await offPool { try exchange(endpoint, [[Array(JSON.object(fields.merging(["op": .string(op)]) { $1 }).text.utf8)]], timeout: 60) }
                    #expect(reply.first??["error"]?["code"]?.stringValue == "too-expensive", "\(fields): \(String(describing: reply))")
                }
                // Facts that feed a cross product are just as expensive.
                _ = try await request(endpoint, "rules", ["action": .string("insert"), "policy": .string("c"), "rule": .string("pair(a, b) :- w(a), v(b)")])
                let facts = try await offPool {
                    try exchange(endpoint, [[Array(#"{"op":"facts","action":"insert","table":"c:v","rows":[[1]]}"#.utf8)]], timeout: 60)
                }
                #expect(facts.first??["ok"] == .bool(true), "40 derivations fit")
                let many = try await offPool {
                    try exchange(endpoint, [[Array(#"{"op":"facts","action":"replace","table":"c:v","rows":[\#((0..<600).map { "[\($0)]" }.joined(separator: ","))]}"#.utf8)]], timeout: 60)
                }
                #expect(many.first??["error"]?["code"]?.stringValue == "too-expensive", "\(String(describing: many))")

                #expect(engine.isRunning)
                #expect(try await queryRows(endpoint, "c:n") == [[.int(0)]])
                #expect(try await queryRows(endpoint, "c:s") == [[.string("a")]])
                // The refused rule left no trace: no rule defines c:big, so it is no table at all.
                do {
                    let big = try await request(endpoint, "query", ["query": .string("c:big")])
                    Issue.record("c:big answered \(big): the refused rule left a table")
                } catch let error as BusError {
                    #expect(error.code == .unknownTable, "\(error)")
                }
                #expect(try await queryRows(endpoint, "c:w").count == 40)
                #expect(try await queryRows(endpoint, "c:pair").count == 40)
                #expect(try await queryRows(endpoint, "c:v") == [[.int(1)]])
                let rulesAfter = try await request(endpoint, "rules", ["action": .string("list"), "policy": .string("c")])["rules"]?.arrayValue
                #expect(rulesAfter == ((rulesBefore?.arrayValue ?? []) + [.string("pair(a, b) :- w(a), v(b)")]).sorted { $0.text < $1.text })
                let status = try await request(endpoint, "status")
                #expect(status["durability"]?["records"]?.intValue == (widened?.intValue ?? -1) + 2, "the refused changes were never logged (before: \(String(describing: records)))")

                // The subscriber saw none of it, and sees the next change.
                _ = try await request(endpoint, "facts", ["action": .string("insert"), "table": .string("c:q"), "rows": .array([.array([.int(7)])])])
                let lines = try await subscriber.waitFor("the delta with p(7)") { process in
                    process.stdoutLines.contains { $0.contains("\"delta\"") } ? process.stdoutLines : nil
                }
                // A busy engine may make the subscriber resync (a second snapshot); no delta but p(7)'s.
                let deltas = try lines.map { try JSON.parse($0) }.filter { $0["kind"]?.stringValue == "delta" }
                #expect(deltas.count == 1 && deltas.first?["added"] == .array([.array([.int(7)])]), "\(lines)")
                #expect(try contents(from: lines, table: "c:p") == [[.int(2)], [.int(3)], [.int(7)]])
            }
        }

        /// Questions hold the loop less long than changes: an `explain` or
        /// `simulate` past `--max-request-ms` is `too-expensive`, says what
        /// ran out, and changes nothing.
        @Test func questionsPastTheirTimeAreTooExpensiveAndChangeNothing() async throws {
            try await withProcesses { processes in
                let chain = (0..<99).map { "e(\($0), \($0 + 1))." }.joined(separator: "\n")
                let wide = (0..<300).map { "m(\($0))." }.joined(separator: "\n")
                let policy = chain + "\n" + wide + "\nreach(x, y) :- e(x, y).\nreach(x, z) :- reach(x, y), e(y, z).\nx(a, b) :- n(a), m(b)."
                let (engine, endpoint) = try await processes.engine("e", policies: [("c", policy)], peers: [], extra: ["--max-request-ms", "1"])
                // About 4,000 rows examined (20 rows, each a 99-deep chain).
                let explain = try await offPool { try exchange(endpoint, [[Array(#"{"op":"explain","query":"c:reach(x, 99)","id":1}"#.utf8)]], timeout: 60) }
                #expect(explain.first??["error"]?["code"]?.stringValue == "too-expensive", "\(String(describing: explain))")
                #expect(explain.first??["error"]?["message"]?.stringValue?.contains("time") == true)
                // 90,000 derivations of a cross product.
                let rows = (0..<300).map { "[\($0)]" }.joined(separator: ",")
                let simulate = #"{"op":"simulate","id":2,"tables":["c:x"],"changes":[{"op":"facts","action":"insert","table":"c:n","rows":[\#(rows)]}]}"#
                let simulated = try await offPool { try exchange(endpoint, [[Array(simulate.utf8)]], timeout: 60) }
                #expect(simulated.first??["error"]?["code"]?.stringValue == "too-expensive", "\(String(describing: simulated))")
                #expect(simulated.first??["error"]?["message"]?.stringValue?.contains("milliseconds") == true)
                #expect(engine.isRunning)
                #expect(try await queryRows(endpoint, "c:n").isEmpty)
                #expect(try await queryRows(endpoint, "c:x").isEmpty)
                #expect(try await queryRows(endpoint, "c:reach").count == 99 * 100 / 2)
            }
        }

        @Test func evalRefusesAnEndlessRuleWithItsBudget() async throws {
            let policy = try temporaryFile("n(0).\nn(y) :- n(x), y = x + 1\n")
            defer { try? FileManager.default.removeItem(atPath: policy) }
            let refused = try await runPolicybus(["eval", policy, "--max-derived-rows", "5000"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("error[too-expensive]"), "\(refused.stderr)")
            let bounded = try temporaryFile("n(0).\nn(y) :- n(x), lt(x, 100), y = x + 1\n")
            defer { try? FileManager.default.removeItem(atPath: bounded) }
            let fine = try await runPolicybus(["eval", bounded, "--max-derived-rows", "101", "--table", "n"])
            #expect(fine.status == 0, "\(fine.stderr)")
            #expect(fine.stdout.split(separator: "\n").count > 100)
            // A join that scans 300³ combinations and derives nothing runs out of time.
            let scanning = try temporaryFile((0..<300).map { "q(\($0))." }.joined(separator: "\n") + "\nnone(x) :- q(x), q(y), q(z), lt(x, y), lt(y, z), lt(z, x)\n")
            defer { try? FileManager.default.removeItem(atPath: scanning) }
            let slow = try await runPolicybus(["eval", scanning, "--max-transaction-ms", "50"])
            #expect(slow.status == 1)
            #expect(slow.stderr.contains("error[too-expensive]") && slow.stderr.contains("milliseconds"), "\(slow.stderr)")
        }
    }
}
