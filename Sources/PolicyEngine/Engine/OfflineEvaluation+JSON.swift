// MARK: - Facts and schema files

extension OfflineEvaluation {
    /// Parses a facts file: `{"table": [[v1, v2], ...], "service:table": [...]}`.
    /// JSON integers become integers and JSON numbers with a fraction or exponent
    /// become floats (`1` and `1.0` differ); booleans and nulls are rejected, and
    /// so is an integer outside the int64 range. Rows are read straight into
    /// values, without a JSON tree: a facts file can hold millions of rows.
    /// - Returns: the tables in name order; a name given twice keeps its last rows, as a JSON object does.
    /// - Throws: `invalid-facts`, naming the line and column of what is wrong.
    public static func parseFacts(_ bytes: some Collection<UInt8>) throws(PolicyError) -> [(table: String, rows: [[Value]])] {
        var parser = JSONParser(bytes: Array(bytes))
        var tables: [String: [[Value]]] = [:]
        do throws(JSONError) {
            guard try parser.peek() == UInt8(ascii: "{") else {
                throw parser.fail("the facts file must be a JSON object mapping table names to arrays of rows")
            }
            if try !parser.open(UInt8(ascii: "{"), closing: UInt8(ascii: "}")) {
                repeat {
                    let name = try parser.parseMemberName()
                    tables[name] = try readRows(&parser, of: name)
                } while try parser.next(closing: UInt8(ascii: "}"))
            }
            try parser.expectEnd()
        } catch {
            throw PolicyError(.invalidFacts, "facts file: \(error.message)")
        }
        return tables.keys.sorted().map { ($0, tables[$0]!) }
    }

    private static func readRows(_ parser: inout JSONParser, of name: String) throws(JSONError) -> [[Value]] {
        guard try parser.peek() == UInt8(ascii: "[") else { throw parser.fail("the facts of '\(name)' must be an array of rows (arrays)") }
        var rows: [[Value]] = []
        if try parser.open(UInt8(ascii: "["), closing: UInt8(ascii: "]")) { return rows }
        repeat {
            rows.append(try readRow(&parser, number: rows.count, of: name))
        } while try parser.next(closing: UInt8(ascii: "]"))
        return rows
    }

    private static func readRow(_ parser: inout JSONParser, number: Int, of name: String) throws(JSONError) -> [Value] {
        guard try parser.peek() == UInt8(ascii: "[") else { throw parser.fail("row \(number) of '\(name)' must be an array of values") }
        var row: [Value] = []
        if try parser.open(UInt8(ascii: "["), closing: UInt8(ascii: "]")) { return row }
        repeat {
            let start = parser.index
            switch try parser.parseTableValue() {
            case .success(let value): row.append(value)
            case .failure(let other):
                parser.index = start
                throw parser.fail("row \(number) of '\(name)' holds \(other.description); values must be integers, floats or strings")
            }
        } while try parser.next(closing: UInt8(ascii: "]"))
        return row
    }

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

    /// `{"tables": {"name": [[v1, v2], ...], ...}}`, tables and rows sorted.
    public static func json(_ tables: [(table: TableID, rows: [[Value]])]) -> String {
        var writer = JSONWriter(capacity: 1 << 16)
        writer.raw("{\"tables\": {")
        for (position, entry) in tables.sorted(by: { $0.table < $1.table }).enumerated() {
            if position > 0 { writer.raw(", ") }
            writer.string(entry.table.description)
            writer.raw(": [")
            for (index, row) in entry.rows.enumerated() {
                if index > 0 { writer.raw(", ") }
                writer.byte(UInt8(ascii: "["))
                for (column, value) in row.enumerated() {
                    if column > 0 { writer.raw(", ") }
                    writer.value(value)
                }
                writer.byte(UInt8(ascii: "]"))
            }
            writer.byte(UInt8(ascii: "]"))
        }
        writer.raw("}}")
        return String(decoding: writer.bytes, as: UTF8.self)
    }

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
