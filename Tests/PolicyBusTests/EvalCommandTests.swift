import Foundation
import PolicyBus
import PolicyEngine
import Testing

/// `policybus eval`, the built binary: offline evaluation of policy files.
@Suite struct EvalCommandTests {
    static let policy = """
        // servers on a host that is not allowed are errors
        error(vm) :- nova:servers(vm, host), not allowed(host)
        allowed("h1")
        reach(x, y) :- link(x, y)
        reach(x, z) :- reach(x, y), link(y, z)
        link(1, 2)
        link(2, 3)
        """

    @Test func printsEveryTableAsSortedJSON() async throws {
        let policyFile = try temporaryFile(Self.policy)
        let factsFile = try temporaryFile(#"{"nova:servers": [["vm2", "h2"], ["vm1", "h1"], ["vm3", "h2"]]}"#, suffix: ".json")
        defer { for file in [policyFile, factsFile] { try? FileManager.default.removeItem(atPath: file) } }

        let eval = try BusProcess("eval", ["eval", policyFile, "--facts", factsFile, "--json", "--policy-name", "alice"])
        defer { eval.stop() }
        #expect(try await eval.exit() == 0)
        let output = try JSON.parse(Array(eval.stdoutText.utf8))
        let expected = try JSON.parse(Array(#"{"tables": {"alice:error": [["vm2"], ["vm3"]]}}"#.utf8))
        #expect(output["tables"]?["alice:error"] == expected["tables"]?["alice:error"])
        let reach = try JSON.parse(Array(#"[[1, 2], [1, 3], [2, 3]]"#.utf8))
        #expect(output["tables"]?["alice:reach"] == reach)
    }

    /// Issue 14, item 4, through the binary: the facts loader kept integers
    /// at or below -10^18 as floats, so `-1e+18` printed and `x = ...` missed.
    @Test func factsKeepMinusTenToTheEighteenAsAnInteger() async throws {
        let policyFile = try temporaryFile("m(x) :- p(x), x = -1000000000000000000")
        let factsFile = try temporaryFile(#"{"p": [[-1000000000000000000]]}"#, suffix: ".json")
        defer { for file in [policyFile, factsFile] { try? FileManager.default.removeItem(atPath: file) } }

        for json in [true, false] {
            let eval = try BusProcess("eval", ["eval", policyFile, "--facts", factsFile, "--policy-name", "a"] + (json ? ["--json"] : []))
            defer { eval.stop() }
            #expect(try await eval.exit() == 0)
            let expected = json
                ? #"{"tables": {"a:m": [[-1000000000000000000]], "a:p": [[-1000000000000000000]]}}"#
                : "# a:m: 1 row\na:m(-1000000000000000000)\n# a:p: 1 row\na:p(-1000000000000000000)\n"
            #expect(eval.stdoutText.trimmingCharacters(in: .newlines) == expected.trimmingCharacters(in: .newlines))
        }
    }

    /// Issue 14, item 1, through the binary: canonically equivalent strings
    /// are two values, negation tells them apart, and output keeps their bytes.
    @Test func stringsThatLookAlikeStayApartAndUnchanged() async throws {
        let policyFile = try temporaryFile("h(x, y) :- p(x, y)\nn(x) :- q(x), not r(x)")
        let factsFile = try temporaryFile(#"{"p": [["\u00c5", "\u212b"]], "q": [["é"]], "r": [["e\u0301"]]}"#, suffix: ".json")
        defer { for file in [policyFile, factsFile] { try? FileManager.default.removeItem(atPath: file) } }

        for json in [true, false] {
            let eval = try BusProcess(
                "eval", ["eval", policyFile, "--facts", factsFile, "--policy-name", "a", "--table", "h", "--table", "n"] + (json ? ["--json"] : []))
            defer { eval.stop() }
            #expect(try await eval.exit() == 0)
            let expected = json
                ? "{\"tables\": {\"a:h\": [[\"\u{C5}\", \"\u{212B}\"]], \"a:n\": [[\"\u{E9}\"]]}}"
                : "# a:h: 1 row\na:h(\"\u{C5}\", \"\u{212B}\")\n# a:n: 1 row\na:n(\"\u{E9}\")"
            var printed = Array(eval.stdoutText.utf8)
            while printed.last == UInt8(ascii: "\n") { printed.removeLast() }
            #expect(printed == Array(expected.utf8), "\(eval.stdoutText.debugDescription)")
        }
    }

    @Test func malformedFactsNameTheLineAndColumn() async throws {
        let policyFile = try temporaryFile("m(x) :- p(x)")
        let factsFile = try temporaryFile("{\"p\": [[1],\n  [2,]]}", suffix: ".json")
        defer { for file in [policyFile, factsFile] { try? FileManager.default.removeItem(atPath: file) } }

        let eval = try BusProcess("eval", ["eval", policyFile, "--facts", factsFile, "--json"])
        defer { eval.stop() }
        #expect(try await eval.exit() == 1)
        let error = try JSON.parse(Array(eval.stdoutText.utf8))["error"]
        #expect(error?["code"] == .string("invalid-facts"))
        #expect(error?["message"]?.stringValue?.hasSuffix("at line 2, column 6") == true, "\(String(describing: error))")
    }

    @Test func selectsTablesWithTable() async throws {
        let policyFile = try temporaryFile(Self.policy)
        defer { try? FileManager.default.removeItem(atPath: policyFile) }

        let eval = try BusProcess("eval", ["eval", policyFile, "--json", "--policy-name", "alice", "--table", "alice:link"])
        defer { eval.stop() }
        #expect(try await eval.exit() == 0)
        let output = try JSON.parse(Array(eval.stdoutText.utf8))
        let tables = try JSON.parse(Array(#"{"alice:link": [[1, 2], [2, 3]]}"#.utf8))
        #expect(output["tables"] == tables)
    }

    @Test func reportsErrorsWithCodeLineAndColumn() async throws {
        let policyFile = try temporaryFile("p(x) :- q(x)\nh(y) :- p(x)\n")
        defer { try? FileManager.default.removeItem(atPath: policyFile) }

        let json = try BusProcess("eval", ["eval", policyFile, "--json"])
        defer { json.stop() }
        #expect(try await json.exit() == 1)
        let error = try JSON.parse(Array(json.stdoutText.utf8))["error"]
        #expect(error?["code"] == .string("unsafe-variable"))
        #expect(error?["line"] == .int(2))

        let readable = try BusProcess("eval", ["eval", policyFile])
        defer { readable.stop() }
        #expect(try await readable.exit() == 1)
        let message = readable.stderrText + readable.stdoutText
        #expect(message.contains(":2:"), "\(message)")
        #expect(message.contains("error[unsafe-variable]"), "\(message)")
    }

    @Test func schemaFilesLetRulesNameColumns() async throws {
        let policyFile = try temporaryFile("up(vm) :- nova:servers(id=vm, status=\"ACTIVE\")")
        let schemaFile = try temporaryFile(#"{"servers": ["id", "host", "status"]}"#, suffix: ".json")
        let factsFile = try temporaryFile(#"{"nova:servers": [["vm1", "h1", "ACTIVE"], ["vm2", "h1", "SHUTOFF"]]}"#, suffix: ".json")
        defer { for file in [policyFile, schemaFile, factsFile] { try? FileManager.default.removeItem(atPath: file) } }

        let withSchema = try BusProcess(
            "eval", ["eval", policyFile, "--policy-name", "p", "--facts", factsFile, "--schema", "nova=\(schemaFile)", "--json"])
        defer { withSchema.stop() }
        #expect(try await withSchema.exit() == 0)
        let tables = try JSON.parse(Array(withSchema.stdoutText.utf8))["tables"]
        #expect(tables?["p:up"] == (try JSON.parse(Array(#"[["vm1"]]"#.utf8))))

        let without = try BusProcess("eval", ["eval", policyFile, "--facts", factsFile, "--json"])
        defer { without.stop() }
        #expect(try await without.exit() == 1)
        #expect(try JSON.parse(Array(without.stdoutText.utf8))["error"]?["code"] == .string("unknown-column"))
    }
}

/// `eval --fail` and `--fail-defined`: exit status 2 when a table is non-empty.
@Suite(.serialized) struct EvalFailTests {
    static let policy = "error(vm) :- servers(vm, host), not allowed(host)\nallowed(\"h1\")\n"

    private func eval(_ facts: String, _ flags: [String]) async throws -> OfflineRun {
        let directory = try temporaryDirectory(["p.pol": Self.policy, "facts.json": facts])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await runPolicybus(["eval", directory + "/p.pol", "--facts", directory + "/facts.json"] + flags)
    }

    @Test func failDefinedExitsTwoOnlyWhenTheTableHasRows() async throws {
        let violating = try await eval(#"{"servers": [["vm1", "h2"]]}"#, ["--fail-defined", "error", "--json"])
        #expect(violating.status == 2, "\(violating.stderr)")
        #expect(try JSON.parse(violating.stdout)["tables"]?["p:error"] == .array([.array([.string("vm1")])]))
        let clean = try await eval(#"{"servers": [["vm1", "h1"]]}"#, ["--fail-defined", "p:error"])
        #expect(clean.status == 0, "\(clean.stderr)")
    }

    @Test func failLooksAtThePrintedTablesOnly() async throws {
        let facts = #"{"servers": [["vm1", "h2"]]}"#
        let allowedOnly = try await eval(facts, ["--fail", "--table", "allowed"])
        #expect(allowedOnly.status == 2)  // allowed has a row
        let errorOnly = try await eval(#"{"servers": [["vm1", "h1"]]}"#, ["--fail", "--table", "error"])
        #expect(errorOnly.status == 0, "\(errorOnly.stderr)")
        let everything = try await eval(facts, ["--fail"])
        #expect(everything.status == 2)
    }

    @Test func anUnknownFailTableIsAnError() async throws {
        let run = try await eval("{}", ["--fail-defined", "nosuch"])
        #expect(run.status == 1)
        #expect(run.stderr.hasPrefix("policybus: error[unknown-table]:"), "\(run.stderr)")
    }
}
