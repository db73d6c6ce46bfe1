import ArgumentParser
import Foundation
import PolicyEngine

/// `policybus fmt`: canonical policy text, like `opa fmt`.
struct FmtCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fmt",
        abstract: "Print policy files in canonical form, or rewrite them with -w.",
        discussion: """
            One statement per line in canonical text; long rules and rules with comments inside \
            get one body literal per line. Comments stay where they were. With --check, prints the \
            files that would change and exits 1 if there are any. Syntax errors exit 1.
            """
    )

    @Argument(help: "Policy files; each is one policy, named after the file's stem.")
    var policyFiles: [String]

    @Flag(name: .customShort("w"), help: "Rewrite the files that are not in canonical form.")
    var write = false

    @Flag(help: "Print the files that are not in canonical form; exit 1 if there are any.")
    var check = false

    func validate() throws {
        guard !policyFiles.isEmpty else { throw ValidationError("give at least one policy file") }
    }

    func run() throws {
        var failed = false
        var changed = false
        for path in policyFiles {
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            do throws(PolicyError) {
                let text = try PolicyFiles.read(path)
                let formatted = try PolicyFormatter.format(text, policy: name)
                changed = changed || formatted != text
                if check || write {
                    if formatted != text { print(path) }
                } else {
                    print(formatted, terminator: "")
                }
                if write && formatted != text { try rewrite(path, formatted) }
            } catch {
                for each in error.all { ErrorReport.printError(ErrorReport.line(Diagnostic(each), files: [name: path])) }
                failed = true
            }
        }
        if failed || (check && changed) { throw ExitCode(1) }
    }

    private func rewrite(_ path: String, _ text: String) throws(PolicyError) {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw PolicyError(.unwritableFile, "cannot write '\(path)': \(error.localizedDescription)")
        }
    }
}
