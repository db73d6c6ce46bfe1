import ArgumentParser
import Foundation
import PolicyBus
import PolicyEngine

/// `policybus test`: run policy tests, like `opa test`.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the policy tests in test files (*.test.json).",
        discussion: """
            Each PATH is a test file or a directory searched for *.test.json files. Prints one line per \
            test and a summary 'N passed, N failed'; a failing test shows the rows added and missing. \
            Exits 1 if any test fails. The file format is in docs/LANGUAGE.md.
            """
    )

    @Argument(help: "Test files, or directories to search for *.test.json.")
    var paths: [String]

    @Flag(help: "Print JSON: {\"tests\": [...], \"passed\": N, \"failed\": N}.")
    var json = false

    @Option(name: .customLong("run"), help: "Run only the tests whose name matches this regular expression.")
    var pattern: String?

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give at least one test file or directory") }
        if let pattern, (try? Regex(pattern)) == nil { throw ValidationError("--run '\(pattern)' is not a regular expression") }
    }

    func run() throws {
        let filter = try pattern.map { try Regex($0) }
        var reports: [JSON] = []
        var passed = 0
        var failed = 0
        for path in try testFiles() {
            let file: PolicyTestFile
            do throws(PolicyError) {
                file = try PolicyTestFile(path: path)
            } catch {
                failed += 1
                reports.append(.object(["file": .string(path), "passed": .bool(false), "error": ErrorReport.json(Diagnostic(error))]))
                if !json { ErrorReport.printError(ErrorReport.line(Diagnostic(error))) }
                continue
            }
            for test in file.tests where filter.map({ test.name.contains($0) }) ?? true {
                let result = PolicyTestRunner.run(test)
                if result.passed { passed += 1 } else { failed += 1 }
                reports.append(report(result, file: file))
                if !json { print(text(result, file: file), terminator: "") }
            }
        }
        if json {
            print(JSON.object(["tests": .array(reports), "passed": .int(Int64(passed)), "failed": .int(Int64(failed))]).text)
        } else {
            print("\(passed) passed, \(failed) failed")
        }
        if failed > 0 { throw ExitCode(1) }
    }

    /// The test files: each PATH, or the *.test.json files under it, sorted.
    private func testFiles() throws -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ErrorReport.fail(PolicyError(.unreadableFile, "no test file or directory '\(path)'"))
            }
            guard isDirectory.boolValue else {
                files.append(path)
                continue
            }
            let found = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
            files += found.filter { $0.hasSuffix(".test.json") }.sorted().map { path + "/" + $0 }
        }
        return files
    }

    private func text(_ result: PolicyTestResult, file: PolicyTestFile) -> String {
        var out = "\(result.passed ? "PASS" : "FAIL") \(file.path): \(result.name)\n"
        if let error = result.error { out += "    " + ErrorReport.line(Diagnostic(error), files: file.fileOfPolicy) + "\n" }
        for failure in result.failures {
            out += "    \(failure.step == 0 ? "before the steps" : "after step \(failure.step)"), \(failure.table):\n"
            for row in failure.added { out += "      added:   \(show(failure.table, row))\n" }
            for row in failure.missing { out += "      missing: \(show(failure.table, row))\n" }
        }
        return out
    }

    private func show(_ table: TableID, _ row: [Value]) -> String {
        "\(table)(\(row.map(\.description).joined(separator: ", ")))"
    }

    private func report(_ result: PolicyTestResult, file: PolicyTestFile) -> JSON {
        var members: [String: JSON] = [
            "file": .string(file.path), "name": .string(result.name), "passed": .bool(result.passed),
            "failures": .array(
                result.failures.map { failure in
                    .object([
                        "step": .int(Int64(failure.step)), "table": .string(failure.table.description),
                        "added": JSON(rows: failure.added), "missing": JSON(rows: failure.missing),
                    ])
                }),
        ]
        if let error = result.error { members["error"] = ErrorReport.json(Diagnostic(error), files: file.fileOfPolicy) }
        return .object(members)
    }
}
