import Foundation
import PolicyBus
import PolicyEngine
import Testing

/// `policybus test`, the built binary.
@Suite(.serialized) struct TestCommandTests {
    static let policy = "error(vm) :- servers(vm, host), not allowed(host)\nallowed(\"h1\")\n"

    static func testFile(_ tests: String) -> String {
        #"{"policies": ["p.pol"], "facts": {"servers": [["vm1", "h1"], ["vm2", "h2"]]}, "tests": "# + tests + "}"
    }

    private func runTests(_ tests: String, _ flags: [String] = []) async throws -> (OfflineRun, String) {
        let directory = try temporaryDirectory(["p.pol": Self.policy, "p.test.json": Self.testFile(tests)])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return (try await runPolicybus(["test", directory] + flags), directory + "/p.test.json")
    }

    @Test func passingTestsPrintOneLineEachAndASummary() async throws {
        let (run, file) = try await runTests(
            """
            [{"name": "exact", "expect": {"error": [["vm2"]]}},
             {"name": "steps", "steps": [{"insert": {"allowed": [["h2"]]}, "expect": {"error": []}},
                                         {"delete": {"allowed": [["h1"]]}, "expect": {"error": {"contains": [["vm1"]], "excludes": [["vm2"]]}}}]}]
            """)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout == "PASS \(file): exact\nPASS \(file): steps\n2 passed, 0 failed\n")
    }

    @Test func aFailingTestShowsRowsAddedAndMissing() async throws {
        let (run, file) = try await runTests(
            """
            [{"name": "wrong", "expect": {"error": [["vm1"]]}},
             {"name": "right", "expect": {"p:error": [["vm2"]]}}]
            """)
        #expect(run.status == 1)
        #expect(
            run.stdout == """
                FAIL \(file): wrong
                    before the steps, p:error:
                      added:   p:error("vm2")
                      missing: p:error("vm1")
                PASS \(file): right
                1 passed, 1 failed

                """)
    }

    @Test func jsonAndRunSelectTests() async throws {
        let (run, _) = try await runTests(
            """
            [{"name": "one", "expect": {"error": {"excludes": [["vm2"]]}}},
             {"name": "two", "expect": {"error": [["vm2"]]}}]
            """, ["--json", "--run", "^o"])
        #expect(run.status == 1)
        let output = try JSON.parse(run.stdout)
        #expect(output["passed"] == .int(0))
        #expect(output["failed"] == .int(1))
        let test = output["tests"]?.arrayValue?.first
        #expect(test?["name"] == .string("one"))
        #expect(test?["failures"]?.arrayValue?.first?["added"] == .array([.array([.string("vm2")])]))
        #expect(test?["failures"]?.arrayValue?.first?["missing"] == .array([]))
    }

    @Test func policyErrorsAndBadFilesFailWithTheirShape() async throws {
        let (unknown, _) = try await runTests(#"[{"name": "typo", "expect": {"eror": []}}]"#)
        #expect(unknown.status == 1)
        #expect(unknown.stdout.contains("policybus: error[unknown-table]"), "\(unknown.stdout)")

        let directory = try temporaryDirectory([
            "bad.pol": "h(y) :- p(x)\n",
            "a.test.json": #"{"policies": ["bad.pol"], "tests": [{"name": "t"}]}"#,
            "b.test.json": #"{"policies": ["bad.pol"], "tests": "#,
            "c.test.json": #"{"policies": ["bad.pol"], "tests": [{"name": "t", "expect": {"h": {"maybe": []}}}]}"#,
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try await runPolicybus(["test", directory])
        #expect(run.status == 1)
        #expect(run.stdout.contains("\(directory)/bad.pol:1:3: error[unsafe-variable]"), "\(run.stdout)")
        #expect(run.stderr.contains("policybus: error[invalid-test]: \(directory)/b.test.json: it is not valid JSON"), "\(run.stderr)")
        #expect(run.stderr.contains("policybus: error[invalid-test]: \(directory)/c.test.json: t, \"expect\", h"), "\(run.stderr)")
        #expect(run.stdout.hasSuffix("0 passed, 3 failed\n"), "\(run.stdout)")

        let missing = try await runPolicybus(["test", "/nonexistent"])
        #expect(missing.status == 1)
        let badRegex = try await runPolicybus(["test", directory, "--run", "("])
        #expect(badRegex.status == 64)
    }

    @Test func theExampleTestsPass() async throws {
        let examples = BusProcess.binary.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples").path
        let run = try await runPolicybus(["test", examples])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.hasSuffix("7 passed, 0 failed\n"), "\(run.stdout)")
    }
}
