import ArgumentParser
import Foundation
import PolicyBus
import PolicyEngine

/// The one shape of the CLI's errors and warnings, for every command:
/// `FILE:LINE:COLUMN: error[CODE]: message` for policy text (the file in
/// place of the policy's name), `policybus: error[CODE]: message` otherwise.
/// Under `--json`, an error is `{"error": {"code", "message", ...}}` on stdout.
/// Runtime errors exit 1; argument errors exit 64 (ArgumentParser's own).
enum ErrorReport {
    /// One diagnostic as a line; `files` maps policy names to their files.
    static func line(_ diagnostic: Diagnostic, files: [String: String] = [:]) -> String {
        let head = "\(diagnostic.severity.rawValue)[\(diagnostic.code)]: \(diagnostic.message)"
        guard let location = diagnostic.location else { return "policybus: " + head }
        let file = files[location.policy] ?? location.policy
        return "\(file):\(location.line):\(location.column): " + head
    }

    /// A bus error as a line: `policybus: error[CODE]: message`.
    static func line(_ error: BusError) -> String {
        "policybus: error[\(error.code)]: \(error.message)"
    }

    /// A bus error in the `--json` shape: `{"error": {"code", "message"}}`.
    static func json(_ error: BusError) -> JSON {
        .object(["error": .object(["code": .string(error.code.rawValue), "message": .string(error.message)])])
    }

    /// Writes a bus error in the one shape: as JSON on stdout under `--json`
    /// (where a script reads), else as a line on stderr; returns exit status 1 to throw.
    static func fail(_ error: BusError, json: Bool) -> ExitCode {
        if json {
            FileHandle.standardOutput.write(Data((Self.json(error).text + "\n").utf8))
        } else {
            printError(line(error))
        }
        return ExitCode(1)
    }

    /// One diagnostic as a JSON object: severity, code, message, and file, line, column (null when unknown).
    static func json(_ diagnostic: Diagnostic, files: [String: String] = [:]) -> JSON {
        let location = diagnostic.location
        return .object([
            "severity": .string(diagnostic.severity.rawValue),
            "code": .string(diagnostic.code),
            "message": .string(diagnostic.message),
            "file": location.map { .string(files[$0.policy] ?? $0.policy) } ?? .null,
            "line": location.map { .int(Int64($0.line)) } ?? .null,
            "column": location.map { .int(Int64($0.column)) } ?? .null,
        ])
    }

    /// Writes an error, and the further errors it carries (policy text reports
    /// all of its errors), to stderr in the one shape; returns exit status 1 to throw.
    static func fail(_ error: PolicyError, files: [String: String] = [:]) -> ExitCode {
        for each in error.all { printError(line(Diagnostic(each), files: files)) }
        return ExitCode(1)
    }

    /// `fail(_:files:)`, or under `--json` on stdout: `{"error": {...}}` with
    /// the first error and, when there are more, `"errors": [...]` with each.
    static func fail(_ error: PolicyError, files: [String: String] = [:], json: Bool) -> ExitCode {
        guard json else { return fail(error, files: files) }
        let all = error.all.map { Self.json(Diagnostic($0), files: files) }
        var members: [String: JSON] = ["error": all[0]]
        if all.count > 1 { members["errors"] = .array(all) }
        FileHandle.standardOutput.write(Data((JSON.object(members).text + "\n").utf8))
        return ExitCode(1)
    }

    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
