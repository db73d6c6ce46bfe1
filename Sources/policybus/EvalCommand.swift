import ArgumentParser
import Foundation
import PolicyEngine

/// `policybus eval`: evaluate policy files offline, as `opa eval` does for OPA.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate policy files offline and print their tables.",
        discussion: """
            Each file is one policy, named after the file's stem (or --policy-name for the first). \
            The facts file maps table names to rows: {"servers": [["vm1", "h1"]], "nova:servers": [...]}; \
            unqualified names belong to the first policy. Errors exit with status 1; --fail and --fail-defined exit with status 2 after printing.
            """
    )

    @Argument(help: "Policy files, one policy each.")
    var policyFiles: [String]

    @Option(help: "A JSON facts file.")
    var facts: String?

    @Flag(help: "Print JSON: {\"tables\": {...}} or {\"error\": {...}}.")
    var json = false

    @Option(name: .customLong("table"), help: "Print only this table (repeatable); unqualified names belong to the first policy.")
    var tables: [String] = []

    @Option(help: "The name of the first file's policy (default: the file's stem).")
    var policyName: String?

    @OptionGroup var schemas: SchemaOptions

    @OptionGroup var budget: BudgetArguments

    @Flag(help: "Exit with status 2 when any printed table is non-empty (for CI gates).")
    var fail = false

    @Option(help: "Print why the rows matching QUERY hold, e.g. 'error(\"vm4\", x, y)': a derivation tree down to facts.")
    var explain: String?

    @Flag(help: "With --explain, every derivation of each row (up to 20), not one.")
    var all = false

    @Flag(help: "Load facts for tables no rule reads (else they are error[unknown-table], as a misspelt key would be).")
    var allowUnknownFacts = false

    @Option(name: .customLong("fail-defined"), help: "Exit with status 2 when this table is non-empty (repeatable).")
    var failDefined: [String] = []

    func validate() throws {
        guard !policyFiles.isEmpty else { throw ValidationError("give at least one policy file") }
    }

    func run() throws {
        var fileOfPolicy: [String: String] = [:]
        var isFailing = false
        do throws(PolicyError) {
            let files = try PolicyFiles(policyFiles, firstName: policyName)
            fileOfPolicy = files.fileOfPolicy
            let factRows = try facts.map { path throws(PolicyError) in
                // Read and parsed in a scope of their own: the file's bytes are freed before evaluation.
                guard let bytes = PolicyFiles.bytes(path) else {
                    throw PolicyError(.unreadableFile, "cannot read facts file '\(path)'")
                }
                return try OfflineEvaluation.readFacts(bytes)
            } ?? OfflineEvaluation.Facts()
            let engine = try OfflineEvaluation.load(
                policies: files.sources, facts: factRows, schemas: try PolicyFiles.schemas(schemas), budget: budget.budget,
                allowUnknownFacts: allowUnknownFacts)
            let defaultPolicy = files.sources.first?.name
            if let explain {
                try ExplainOutput.print(engine.explain(explain, defaultPolicy: defaultPolicy, all: all), query: explain, json: json)
                return
            }
            let result = try OfflineEvaluation.select(tables.isEmpty ? [] : tables + failDefined, in: engine, defaultPolicy: defaultPolicy)
            let printed = tables.isEmpty ? result : Array(result.prefix(tables.count))
            OfflineEvaluation.write(printed, of: engine, json: json) { standardOutput($0) }
            if json { standardOutput([UInt8(ascii: "\n")]) }
            isFailing = try failing(engine, result, printed: printed, defaultPolicy: defaultPolicy)
        } catch {
            throw ErrorReport.fail(error, files: fileOfPolicy, json: json)
        }
        if isFailing { throw ExitCode(2) }
    }

    /// Whether `--fail` or `--fail-defined` asks for exit status 2.
    private func failing(_ engine: Engine, _ result: [TableID], printed: [TableID], defaultPolicy: String?) throws(PolicyError) -> Bool {
        if fail && printed.contains(where: { engine.count(of: $0) > 0 }) { return true }
        var isFailing = false
        for name in failDefined {
            let table = name.contains(":") ? TableID(name) : defaultPolicy.map { TableID(service: $0, name: name) }
            guard let table, result.contains(table) else {
                throw PolicyError(.unknownTable, "no table \(name) for --fail-defined; run without --table to list every table")
            }
            isFailing = isFailing || engine.count(of: table) > 0
        }
        return isFailing
    }
}

/// Writes bytes to standard output, unbuffered as the error reports are.
func standardOutput(_ bytes: [UInt8]) {
    FileHandle.standardOutput.write(Data(bytes))
}
