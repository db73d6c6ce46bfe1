import Foundation
import PolicyBus
import PolicyEngine

extension PolicyError.Code {
    /// A test file of `policybus test` is malformed.
    static let invalidTest = PolicyError.Code(rawValue: "invalid-test")
}

/// A test file of `policybus test`, decoded once at the edge into `PolicyTest`s
/// (the format is in docs/LANGUAGE.md, "test").
struct PolicyTestFile {
    var path: String
    var tests: [PolicyTest] = []
    /// Policy name to file path, for error messages.
    var fileOfPolicy: [String: String] = [:]

    init(path: String) throws(PolicyError) {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PolicyError(.unreadableFile, "cannot read test file '\(path)'")
        }
        let json: JSON
        do { json = try JSON.parse(data) } catch { throw invalid("it is not valid JSON: \(error.message)") }
        guard case .object = json else { throw invalid("it must be a JSON object with \"policies\" and \"tests\"") }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ relative: String) -> String {
            relative.hasPrefix("/") ? relative : directory.appendingPathComponent(relative).path
        }
        guard let policyPaths = json["policies"]?.arrayValue?.compactMap(\.stringValue), !policyPaths.isEmpty else {
            throw invalid("\"policies\" must be a non-empty array of policy file paths")
        }
        let files = try PolicyFiles(policyPaths.map(resolve))
        fileOfPolicy = files.fileOfPolicy
        var schemas: [TableID: [String]] = [:]
        for (service, file) in try members(json["schemas"], "\"schemas\"") {
            guard let file = file.stringValue, TableID.isIdentifier(service) else {
                throw invalid("\"schemas\" maps a data source's name to its schema file")
            }
            for (table, columns) in try PolicyFiles.schemaFile(resolve(file)) {
                schemas[TableID(service: service, name: table)] = columns
            }
        }
        let shared = try rows(json["facts"], "\"facts\"")
        guard let tests = json["tests"]?.arrayValue, !tests.isEmpty else { throw invalid("\"tests\" must be a non-empty array") }
        for (index, test) in tests.enumerated() {
            guard let name = test["name"]?.stringValue else { throw invalid("test \(index + 1) has no \"name\"") }
            let steps = try (test["steps"]?.arrayValue ?? []).enumerated().map { (number, step) throws(PolicyError) in
                PolicyTest.Step(
                    insert: try rows(step["insert"], "\(name), step \(number + 1), \"insert\""),
                    delete: try rows(step["delete"], "\(name), step \(number + 1), \"delete\""),
                    expectations: try expectations(step["expect"], "\(name), step \(number + 1)"))
            }
            self.tests.append(
                PolicyTest(
                    name: name, policies: files.sources, schemas: schemas,
                    facts: shared + (try rows(test["facts"], "\(name), \"facts\"")),
                    expectations: try expectations(test["expect"], name), steps: steps))
        }
    }

    private func invalid(_ message: String) -> PolicyError {
        PolicyError(.invalidTest, "\(path): \(message)")
    }

    private func members(_ json: JSON?, _ what: String) throws(PolicyError) -> [(String, JSON)] {
        guard let json else { return [] }
        guard case .object(let members) = json else { throw invalid("\(what) must be a JSON object") }
        return members.sorted { $0.key < $1.key }
    }

    /// `{"table": [[v, ...], ...], ...}`
    private func rows(_ json: JSON?, _ what: String) throws(PolicyError) -> [(table: String, rows: [[Value]])] {
        try members(json, what).map { (table, rows) throws(PolicyError) in (table, try self.rows(rows, "\(what), \(table)")) }
    }

    private func rows(_ json: JSON, _ what: String) throws(PolicyError) -> [[Value]] {
        do {
            return try RowCodec.rows(json)
        } catch {
            throw invalid("\(what): rows are arrays of numbers and strings (\(error.message))")
        }
    }

    /// `{"table": [rows]}` for exact contents, or `{"table": {"contains": [rows], "excludes": [rows]}}`.
    private func expectations(_ json: JSON?, _ what: String) throws(PolicyError) -> [PolicyTest.Expectation] {
        try members(json, "\(what), \"expect\"").map { (table, expected) throws(PolicyError) in
            let context = "\(what), \"expect\", \(table)"
            if case .array = expected { return .init(table: table, exact: try rows(expected, context)) }
            guard case .object(let parts) = expected, !parts.isEmpty,
                Set(parts.keys).isSubset(of: ["contains", "excludes"])
            else {
                throw invalid("\(context): give rows (exact contents) or {\"contains\": [...], \"excludes\": [...]}")
            }
            var expectation = PolicyTest.Expectation(table: table)
            if let contains = parts["contains"] { expectation.contains = try rows(contains, context) }
            if let excludes = parts["excludes"] { expectation.excludes = try rows(excludes, context) }
            return expectation
        }
    }
}
