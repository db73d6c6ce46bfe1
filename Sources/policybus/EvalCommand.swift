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
            unqualified names belong to the first policy. Errors exit with status 1.
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

    @Option(
        name: .customLong("schema"),
        help: "SERVICE=FILE: a data source's schema file, {\"table\": [\"column\", ...]}, so rules can name its columns (repeatable).")
    var schemaFiles: [String] = []

    func validate() throws {
        guard !policyFiles.isEmpty else { throw ValidationError("give at least one policy file") }
    }

    func run() throws {
        var fileOfPolicy: [String: String] = [:]
        do throws(PolicyError) {
            var sources: [OfflineEvaluation.PolicySource] = []
            for (index, path) in policyFiles.enumerated() {
                let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                let name = index == 0 ? (policyName ?? stem) : stem
                fileOfPolicy[name] = path
                sources.append(.init(name: name, text: try read(path)))
            }
            var factRows: [(table: String, rows: [[Value]])] = []
            if let facts {
                guard let data = FileManager.default.contents(atPath: facts) else {
                    throw PolicyError(.unreadableFile, "cannot read facts file '\(facts)'")
                }
                factRows = try OfflineEvaluation.parseFacts(data)
            }
            let result = try OfflineEvaluation.evaluate(
                policies: sources, facts: factRows, tables: tables, schemas: try readSchemas())
            print(json ? OfflineEvaluation.json(result) : OfflineEvaluation.text(result), terminator: json ? "\n" : "")
        } catch {
            if json {
                print(OfflineEvaluation.json(error))
            } else {
                FileHandle.standardError.write(Data((describe(error, fileOfPolicy) + "\n").utf8))
            }
            throw ExitCode(1)
        }
    }

    /// Reads every `--schema SERVICE=FILE` into qualified column lists.
    private func readSchemas() throws(PolicyError) -> [TableID: [String]] {
        var schemas: [TableID: [String]] = [:]
        for option in schemaFiles {
            guard let (service, file) = NameValueOption.split(option), !file.isEmpty, TableID.isIdentifier(service) else {
                throw PolicyError(.invalidFacts, "--schema takes SERVICE=FILE, not '\(option)'")
            }
            guard let data = FileManager.default.contents(atPath: file),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: [String]]
            else {
                throw PolicyError(.invalidFacts, "schema file '\(file)' must be a JSON object of column-name arrays")
            }
            for (name, columns) in object {
                guard TableID.isIdentifier(name) else {
                    throw PolicyError(.invalidFacts, "schema file '\(file)': '\(name)' is not a table name")
                }
                schemas[TableID(service: service, name: name)] = columns
            }
        }
        return schemas
    }

    private func read(_ path: String) throws(PolicyError) -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw PolicyError(.unreadableFile, "cannot read policy file '\(path)'")
        }
        return text
    }

    /// Compiler style, with the file in place of the policy name: `file:line:column: error[code]: message`.
    private func describe(_ error: PolicyError, _ fileOfPolicy: [String: String]) -> String {
        guard let location = error.location else { return "error[\(error.code)]: \(error.message)" }
        let file = fileOfPolicy[location.policy] ?? location.policy
        return "\(file):\(location.line):\(location.column): error[\(error.code)]: \(error.message)"
    }
}
