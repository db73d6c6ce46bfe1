import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// The `explain` control op and `policybus explain --connect`, against a real engine.
    @Suite struct ExplainCommandTests {
        static let policy = """
            reach(x, y) :- link(x, y)
            reach(x, z) :- reach(x, y), link(y, z)
            lonely(x) :- node(x), not reach(x, _)
            link(1, 2)
            link(2, 3)
            link(3, 1)
            node(1)
            """

        private func withEngine(_ body: (String) async throws -> Void) async throws {
            let directory = try temporaryDirectory(["g.pol": Self.policy])
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try await withProcesses { processes in
                let engine = try processes.start(
                    "E", ["serve", "--name", "E", "--control", "tcp://127.0.0.1:*", "--data-dir", directory + "/data", "--policy", "g=\(directory)/g.pol"])
                try await body(try await engine.endpoints().control)
            }
        }

        @Test func theOpExplainsRowsAddedAtRunTime() async throws {
            try await withEngine { endpoint in
                _ = try await request(endpoint, "facts", ["action": .string("insert"), "table": .string("g:node"), "rows": .array([.array([.int(4)])])])
                let reply = try await request(endpoint, "explain", ["query": .string("g:lonely(x)")])
                let explanation = try Explanation(json: try #require(reply["explanations"]?.arrayValue?.first))
                #expect(explanation.complete)
                #expect(
                    explanation.text == """
                        g:lonely(4)  by g:3: lonely(x) :- node(x), not reach(x, _)
                          g:node(4)  [fact]
                          absent: g:reach(4, _)

                        """)
                let none = try await request(endpoint, "explain", ["query": .string("g:lonely(1)")])
                #expect(none["explanations"] == .array([]))
            }
        }

        @Test func theCommandPrintsTreesAndJSONAndFailsInTheOneShape() async throws {
            try await withEngine { endpoint in
                let text = try await runPolicybus(["explain", "--connect", endpoint, "g:reach(1, 1)"])
                #expect(text.status == 0, "\(text.stderr)")
                #expect(text.stdout.hasPrefix("g:reach(1, 1)  by g:2: reach(x, z) :- reach(x, y), link(y, z)\n"), "\(text.stdout)")
                #expect(text.stdout.contains("      g:link(1, 2)  [fact]\n"), "\(text.stdout)")

                let json = try await runPolicybus(["explain", "--connect", endpoint, "g:reach(1, y)", "--json", "--all"])
                #expect(json.status == 0, "\(json.stderr)")
                let explanations = try #require(try JSON.parse(json.stdout)["explanations"]?.arrayValue)
                #expect(explanations.count == 3)
                #expect(explanations.allSatisfy { $0["complete"] == .bool(true) })

                let none = try await runPolicybus(["explain", "--connect", endpoint, "g:reach(4, y)"])
                #expect(none.status == 1)
                #expect(none.stderr.hasPrefix("policybus: error[no-match]:"), "\(none.stderr)")
                let unknown = try await runPolicybus(["explain", "--connect", endpoint, "g:nosuch(x)"])
                #expect(unknown.status == 1)
                #expect(unknown.stderr.contains("error[unknown-table]"), "\(unknown.stderr)")
                let badField = try? await request(endpoint, "explain", ["query": .string("g:reach"), "all": .string("yes")])
                #expect(badField == nil, "a non-boolean 'all' is a bad request")
            }
        }
    }
}
