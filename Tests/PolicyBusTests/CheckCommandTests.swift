import Foundation
import PolicyBus
import PolicyEngine
import Testing

/// `policybus check`, the built binary.
@Suite(.serialized) struct CheckCommandTests {
    @Test func reportsAnErrorInEveryFileInTheOneShape() async throws {
        let directory = try temporaryDirectory([
            "a.pol": "p(x) :- q(x)\nh(y) :- p(x)\n",
            "b.pol": "ok(1)\nbad(x) :- ok(x) ok(x)\n",
            "c.pol": "fine(x) :- a:p(x)\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try await runPolicybus(["check", directory + "/a.pol", directory + "/b.pol", directory + "/c.pol"])
        #expect(run.status == 1)
        let lines = run.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(run.stderr)")
        #expect(lines.first?.hasPrefix("\(directory)/a.pol:2:3: error[unsafe-variable]: ") == true, "\(run.stderr)")
        #expect(lines.last?.hasPrefix("\(directory)/b.pol:2:") == true, "\(run.stderr)")
        #expect(lines.last?.contains("error[syntax-error]") == true, "\(run.stderr)")
    }

    /// Issues 10 and 14: a policy file reports every error it has, of every
    /// kind, in line and column order, and check, eval and serve print the
    /// same lines at the file's path.
    @Test func checkEvalAndServePrintEveryErrorInLineOrder() async throws {
        let text = "p(x) :- q(x), not p(x)\nh(y) :- q(x)\nbad(x) :- q(x) q(x)\nn(k) :- q(x), len(3, k)\n"
        let directory = try temporaryDirectory(["a.pol": text])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/a.pol"
        let expected = [
            "\(file):1:15: error[unstratified-negation]: ", "\(file):2:3: error[unsafe-variable]: ",
            "\(file):3:16: error[syntax-error]: ", "\(file):4:19: error[type-error]: ",
        ]
        let runs = [
            ("check", try await runPolicybus(["check", file])),
            ("eval", try await runPolicybus(["eval", file, "--policy-name", "a"])),
            ("serve", try await runPolicybus(["serve", "--name", "E", "--control", "tcp://127.0.0.1:*", "--no-data-dir", "--policy", "a=\(file)"])),
        ]
        for (command, run) in runs {
            #expect(run.status == 1, "\(command): \(run.stderr)")
            let errors = run.stderr.split(separator: "\n").filter { $0.contains("error[") }
            #expect(errors.count == expected.count, "\(command): \(run.stderr)")
            for (line, prefix) in zip(errors, expected) { #expect(line.hasPrefix(prefix), "\(command): \(run.stderr)") }
        }
        let json = try await runPolicybus(["eval", file, "--policy-name", "a", "--json"])
        let reply = try JSON.parse(json.stdout)
        #expect(reply["error"]?["line"] == .int(1), "\(json.stdout)")
        #expect(reply["errors"]?.arrayValue?.map { $0["line"] } == [.int(1), .int(2), .int(3), .int(4)], "\(json.stdout)")
    }

    @Test func aFileReportsAtMostTwentyErrors() async throws {
        let directory = try temporaryDirectory(["a.pol": (1...25).map { "h\($0)(y) :- q(x)\n" }.joined()])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try await runPolicybus(["check", directory + "/a.pol"])
        #expect(run.status == 1)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 20, "\(run.stderr)")
        let column = { (line: Int) in line < 10 ? 4 : 5 }  // the y of hN(y)
        #expect(lines.enumerated().allSatisfy { $1.hasPrefix("\(directory)/a.pol:\($0 + 1):\(column($0 + 1)): error[unsafe-variable]") }, "\(run.stderr)")
    }

    @Test func jsonIsAnArrayOfFindings() async throws {
        let directory = try temporaryDirectory(["a.pol": "h(y) :- p(x)\np(1)\n"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try await runPolicybus(["check", "--json", directory + "/a.pol"])
        #expect(run.status == 1)
        let findings = try #require(try JSON.parse(run.stdout).arrayValue)
        #expect(findings.count == 1)
        #expect(findings.first?["severity"] == .string("error"))
        #expect(findings.first?["code"] == .string("unsafe-variable"))
        #expect(findings.first?["file"] == .string(directory + "/a.pol"))
        #expect(findings.first?["line"] == .int(1))
        #expect(findings.first?["column"] == .int(3))
    }

    @Test func warningsHaveCodesAndFailOnlyUnderStrict() async throws {
        let text = """
            p(x) :- q(x), y = 1
            h(z) :- p(z), missing(z)
            never(z) :- p(z), "a" = "b"
            q(1)
            """
        let directory = try temporaryDirectory(["w.pol": text])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/w.pol"
        let run = try await runPolicybus(["check", file])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(run.stderr)")
        #expect(lines.count == 3 && lines[0].hasPrefix("\(file):1:15: warning[single-use-variable]:"), "\(run.stderr)")
        #expect(lines.count == 3 && lines[1].hasPrefix("\(file):2:15: warning[undefined-table]:"), "\(run.stderr)")
        #expect(lines.count == 3 && lines[2].hasPrefix("\(file):3:23: warning[rule-never-fires]:"), "\(run.stderr)")

        let strict = try await runPolicybus(["check", "--strict", file])
        #expect(strict.status == 1)
    }

    @Test func certainOnlyNoWarningsForCleanPolicies() async throws {
        // A builtin written bare, `_` and `_name`, a true constant comparison, and a
        // comparison of an int with a float (the engine's business, not certain here).
        let text = """
            h(x, y) :- nova:servers(x, _), plus(1, 2, y), _unused = 3, 1 < 2, 1 < 2.5
            g(x) :- h(x, _), not k(x)
            k("a")
            """
        let directory = try temporaryDirectory(["clean.pol": text])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try await runPolicybus(["check", "--strict", directory + "/clean.pol"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.isEmpty, "\(run.stderr)")
    }

    @Test func examplesAreCleanWithTheirSchemas() async throws {
        let examples = BusProcess.binary.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples").path
        let run = try await runPolicybus([
            "check", "--strict", examples + "/compliance.policy", examples + "/alerts.policy",
            "--schema", "nova=\(examples)/nova.schema.json", "--schema", "neutron=\(examples)/neutron.schema.json",
            "--schema", "keystone=\(examples)/keystone.schema.json",
        ])
        #expect(run.status == 0, "\(run.stderr)")
    }

    @Test func badInputIsAnErrorNotACrash() async throws {
        let missing = try await runPolicybus(["check", "/nonexistent/x.pol"])
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("policybus: error[unreadable-file]:"), "\(missing.stderr)")
        let noFiles = try await runPolicybus(["check"])
        #expect(noFiles.status == 64)
        let policy = try temporaryFile("p(1)")
        defer { try? FileManager.default.removeItem(atPath: policy) }
        let badSchema = try await runPolicybus(["check", "--schema", "nope", policy])
        #expect(badSchema.status == 1)
        #expect(badSchema.stderr.contains("error[invalid-facts]"), "\(badSchema.stderr)")
    }
}
