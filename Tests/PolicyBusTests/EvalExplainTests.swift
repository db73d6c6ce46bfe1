import Foundation
import PolicyBus
import PolicyEngine
import Testing

/// `policybus eval --explain`, the built binary.
@Suite(.serialized) struct EvalExplainTests {
    static let policy = """
        reach(x, y) :- link(x, y)
        reach(x, z) :- reach(x, y), link(y, z)
        lonely(x) :- node(x), not reach(x, _)
        """
    static let facts = #"{"link": [[1, 2], [2, 3], [3, 1]], "node": [[1], [4]]}"#

    private func explain(_ flags: [String]) async throws -> OfflineRun {
        let directory = try temporaryDirectory(["g.pol": Self.policy, "facts.json": Self.facts])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await runPolicybus(["eval", directory + "/g.pol", "--facts", directory + "/facts.json"] + flags)
    }

    @Test func printsAnIndentedTreeDownToFacts() async throws {
        let run = try await explain(["--explain", "reach(1, 1)"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(
            run.stdout == """
                g:reach(1, 1)  by g:2: reach(x, z) :- reach(x, y), link(y, z)
                  g:reach(1, 3)  by g:2: reach(x, z) :- reach(x, y), link(y, z)
                    g:reach(1, 2)  by g:1: reach(x, y) :- link(x, y)
                      g:link(1, 2)  [fact]
                    g:link(2, 3)  [fact]
                  g:link(3, 1)  [fact]

                """)
        let negation = try await explain(["--explain", "lonely(x)"])
        #expect(negation.stdout == "g:lonely(4)  by g:3: lonely(x) :- node(x), not reach(x, _)\n  g:node(4)  [fact]\n  absent: g:reach(4, _)\n")
    }

    @Test func jsonIsNestedAndAllGivesEveryDerivation() async throws {
        let run = try await explain(["--explain", "g:reach(1, 2)", "--json", "--all"])
        #expect(run.status == 0, "\(run.stderr)")
        let explanation = try #require(try JSON.parse(run.stdout)["explanations"]?.arrayValue?.first)
        #expect(explanation["complete"] == .bool(true))
        #expect(explanation["row"] == .array([.int(1), .int(2)]))
        let derivations = try #require(explanation["derivations"]?.arrayValue)
        // reach(1, 2) also follows from reach(1, 1) and link(1, 2), but every
        // derivation of reach(1, 1) uses reach(1, 2): not well founded, so not given.
        #expect(derivations.count == 1, "\(run.stdout)")
        #expect(derivations.first?["rule"]?["line"] == .int(1))
        #expect(derivations.first?["rule"]?["text"] == .string("reach(x, y) :- link(x, y)"))
        #expect(derivations.first?["body"]?.arrayValue?.first?["reason"] == .string("fact"))
    }

    @Test func badQueriesFailInTheOneShape() async throws {
        let none = try await explain(["--explain", "reach(4, 4)"])
        #expect(none.status == 1)
        #expect(none.stderr.hasPrefix("policybus: error[no-match]:"), "\(none.stderr)")
        let unknown = try await explain(["--explain", "nosuch(x)"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("error[unknown-table]"), "\(unknown.stderr)")
        let syntax = try await explain(["--explain", "reach(1,"])
        #expect(syntax.status == 1)
        #expect(syntax.stderr.contains("error[syntax-error]"), "\(syntax.stderr)")
    }
}
