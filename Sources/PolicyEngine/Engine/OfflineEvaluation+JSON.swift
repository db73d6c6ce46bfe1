// MARK: - Schema files (facts files: OfflineEvaluation+Facts.swift)

extension OfflineEvaluation {
    /// Parses a schema file, `{"table": ["column", ...], ...}`.
    /// - Throws: `invalid-facts` naming the file, with the line and column of malformed JSON.
    public static func parseSchema(_ bytes: some Collection<UInt8>, file: String) throws(PolicyError) -> [String: [String]] {
        let json: JSON
        do {
            json = try JSON.parse(bytes)
        } catch {
            throw PolicyError(.invalidFacts, "schema file '\(file)' is not valid JSON: \(error.message)")
        }
        guard case .object(let members) = json else {
            throw PolicyError(.invalidFacts, "schema file '\(file)' must be a JSON object of column-name arrays")
        }
        var schema: [String: [String]] = [:]
        for (name, columns) in members {
            let names = columns.arrayValue?.compactMap(\.stringValue)
            guard let names, names.count == columns.arrayValue?.count else {
                throw PolicyError(.invalidFacts, "schema file '\(file)': the columns of '\(name)' must be an array of strings")
            }
            schema[name] = names
        }
        return schema
    }

    // MARK: - Output

    /// `{"error": {"code": ..., "message": ..., "line": N, "column": N}}`; line and column are null when unknown.
    /// When policy text has several errors, `"errors"` follows with all of them, the first included.
    public static func json(_ error: PolicyError) -> String {
        func object(_ error: PolicyError) -> String {
            let line = error.location.map { String($0.line) } ?? "null"
            let column = error.location.map { String($0.column) } ?? "null"
            return "{\"code\": \(jsonString(error.code.rawValue)), \"message\": \(jsonString(error.message)), "
                + "\"line\": \(line), \"column\": \(column)}"
        }
        let all = error.all
        guard all.count > 1 else { return "{\"error\": \(object(error))}" }
        return "{\"error\": \(object(all[0])), \"errors\": [\(all.map(object).joined(separator: ", "))]}"
    }

    static func jsonString(_ string: String) -> String {
        JSON.string(string).text
    }
}
