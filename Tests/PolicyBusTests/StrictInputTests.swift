import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// Input a node can never use is refused with a stable code, in the one
    /// error shape, and the node keeps serving what it accepted before (issue 10).
    @Suite(.serialized) struct StrictInputTests {
        /// One request as raw JSON: the reply, error or not.
        func send(_ endpoint: String, _ request: JSON) async throws -> JSON {
            try await offPool { try exchange(endpoint, [[Array(request.text.utf8)]], timeout: 60) }.first.flatMap { $0 } ?? .null
        }

        func facts(_ table: String, _ rows: [[String]]) -> JSON {
            .object([
                "op": .string("facts"), "action": .string("insert"), "table": .string(table),
                "rows": .array(rows.map { .array($0.map { .string($0) }) }),
            ])
        }

        func tableNames(_ endpoint: String) async throws -> Set<String> {
            Set((try await request(endpoint, "tables")["tables"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue })
        }

        @Test func aDataSourceWithASchemaRefusesUnknownTablesAndWrongAritiesOnStdin() async throws {
            try await withProcesses { processes in
                let schema = try temporaryFile(#"{"servers": ["id", "host"]}"#, suffix: ".json")
                let initial = try temporaryFile(#"{"servers": [["vm1", "h1"]]}"#, suffix: ".json")
                let (source, endpoint) = try await processes.dataSource("nova", extra: ["--schema", schema, "--facts", initial])
                source.write(#"+nosuch("x")"#, #"+servers("vm2")"#, #"begin"#, #"+servers("vm3", "h3")"#, #"+hostz("vm3")"#, "commit")
                #expect(try await source.stderrContains("policybus: error[unknown-table]: nova:nosuch"))
                #expect(try await source.stderrContains("policybus: error[arity-mismatch]: nova:servers has 2 columns"))
                #expect(try await source.stderrContains("policybus: error[unknown-table]: nova:hostz"))
                // Still serving; a good line after the bad ones is applied, nothing from the bad ones.
                source.write(#"+servers("vm4", "h4")"#)
                let rows = try await eventually("vm4 applied") {
                    let rows = try await queryRows(endpoint, "servers")
                    return rows.count == 2 ? rows : nil
                }
                #expect(rows == [[.string("vm1"), .string("h1")], [.string("vm4"), .string("h4")]])
                #expect(try await tableNames(endpoint) == ["nova:servers"])
                #expect(source.isRunning)
            }
        }

        @Test func aDataSourceWithASchemaRefusesUnknownTablesAndWrongAritiesOverFacts() async throws {
            try await withProcesses { processes in
                let schema = try temporaryFile(#"{"servers": ["id", "host"]}"#, suffix: ".json")
                let initial = try temporaryFile(#"{"servers": [["vm1", "h1"]]}"#, suffix: ".json")
                let (source, endpoint) = try await processes.dataSource("nova", extra: ["--schema", schema, "--facts", initial])
                let unknown = try await send(endpoint, facts("nova:hostz", [["vm2", "h2"]]))
                #expect(unknown["error"]?["code"]?.stringValue == "unknown-table", "\(unknown)")
                let arity = try await send(endpoint, facts("nova:servers", [["vm2", "h2"], ["vm3"]]))
                #expect(arity["error"]?["code"]?.stringValue == "arity-mismatch", "\(arity)")
                for op in ["subscribe", "query"] {
                    let fields: JSON = op == "query"
                        ? .object(["op": .string(op), "query": .string("nova:hostz")])
                        : .object(["op": .string(op), "client": .string("c1"), "tables": .array([.string("nova:hostz")])])
                    let reply = try await send(endpoint, fields)
                    #expect(reply["error"]?["code"]?.stringValue == "unknown-table", "\(op): \(reply)")
                }
                #expect(try await send(endpoint, facts("nova:servers", [["vm5", "h5"]]))["ok"] == .bool(true))
                #expect(try await queryRows(endpoint, "nova:servers") == [[.string("vm1"), .string("h1")], [.string("vm5"), .string("h5")]])
                #expect(try await tableNames(endpoint) == ["nova:servers"])
                #expect(source.isRunning)
            }
        }

        @Test func evalRefusesFactsNoRuleReadsUnlessAllowed() async throws {
            let policy = try temporaryFile("error(vm) :- nova:servers(vm, \"h1\").")
            let factsFile = try temporaryFile(#"{"nova:servers": [["vm1", "h1"]], "clod:vms": [["vm9"]]}"#, suffix: ".json")
            let refused = try await runPolicybus(["eval", policy, "--facts", factsFile])
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.contains("policybus: error[unknown-table]: facts for clod:vms"), "\(refused.stderr)")
            #expect(refused.stdout.isEmpty, "nothing evaluated: \(refused.stdout)")
            let json = try await runPolicybus(["eval", "--json", policy, "--facts", factsFile])
            #expect(json.status == 1)
            #expect(try JSON.parse(json.stdout)["error"]?["code"]?.stringValue == "unknown-table", "\(json.stdout)")
            let allowed = try await runPolicybus(["eval", "--allow-unknown-facts", policy, "--facts", factsFile])
            #expect(allowed.status == 0, "\(allowed)")
            #expect(allowed.stdout.contains(#"error("vm1")"#), "\(allowed.stdout)")
        }

        @Test func anEngineQueryOfATableNoRuleDefinesOrReadsIsUnknownTable() async throws {
            try await withProcesses { processes in
                let (engine, endpoint) = try await processes.engine("e", policies: [("ops", "e(1).\nr(x) :- q(x).")], peers: [])
                let cli = try processes.start("query", ["query", "--connect", endpoint, "ops:nosuch"])
                #expect(try await cli.exit() == 1)
                #expect(cli.stderrText.contains("policybus: error[unknown-table]: no rule of policy 'ops'"), "\(cli.stderrText)")
                // A base table a rule reads is empty, not unknown; what the engine held is unchanged.
                #expect(try await queryRows(endpoint, "ops:q") == [])
                #expect(try await queryRows(endpoint, "ops:e") == [[.int(1)]])
                #expect(engine.isRunning)
            }
        }
    }
}
