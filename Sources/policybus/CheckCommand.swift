import ArgumentParser
import PolicyBus
import PolicyEngine

/// `policybus check`: every error and warning of policy files, without loading them.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Parse and check policy files; report every error and warning.",
        discussion: """
            Each file is one policy, named after the file's stem; the files are checked together, \
            so they may read each other's tables. Prints FILE:LINE:COLUMN: error[CODE]: message \
            (or warning[CODE]) per finding. Exits 1 on errors, and on warnings too with --strict.
            """
    )

    @Argument(help: "Policy files, one policy each.")
    var policyFiles: [String]

    @Flag(help: "Print a JSON array of {severity, code, message, file, line, column}.")
    var json = false

    @Flag(help: "Exit 1 on warnings as well as errors.")
    var strict = false

    @OptionGroup var schemas: SchemaOptions

    func validate() throws {
        guard !policyFiles.isEmpty else { throw ValidationError("give at least one policy file") }
    }

    func run() throws {
        let files: PolicyFiles
        let diagnostics: [Diagnostic]
        do throws(PolicyError) {
            files = try PolicyFiles(policyFiles)
            diagnostics = PolicyCheck.check(files.sources, schemas: try PolicyFiles.schemas(schemas))
        } catch {
            if json { print(JSON.array([ErrorReport.json(Diagnostic(error))]).text) } else { throw ErrorReport.fail(error) }
            throw ExitCode(1)
        }
        if json {
            print(JSON.array(diagnostics.map { ErrorReport.json($0, files: files.fileOfPolicy) }).text)
        } else {
            for diagnostic in diagnostics { ErrorReport.printError(ErrorReport.line(diagnostic, files: files.fileOfPolicy)) }
        }
        let errors = diagnostics.filter { $0.severity == .error }.count
        if errors > 0 || (strict && !diagnostics.isEmpty) { throw ExitCode(1) }
    }
}
