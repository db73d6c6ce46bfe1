import PolicyEngine

/// One line of `policybus publish` input.
public enum FactLine: Hashable, Sendable {
    case change(FactChange)
    case begin
    case commit
    /// A blank line or a `#` comment.
    case nothing

    /// Parses `+table(v, ...)`, `-table(v, ...)`, `replace table [[...], ...]`,
    /// `begin`, `commit`. Values are JSON numbers and strings.
    /// - Throws: `BusError` `syntax-error` (or `bad-table-name`).
    public init(parsing line: String) throws(BusError) {
        let text = line.trimmingCharacters(in: " ")
        if text.isEmpty || text.hasPrefix("#") {
            self = .nothing
            return
        }
        if text == "begin" { self = .begin; return }
        if text == "commit" { self = .commit; return }
        if text.hasPrefix("replace ") {
            let rest = text.dropFirst("replace ".count).drop(while: { $0 == " " })
            let name = String(rest.prefix(while: { $0 != " " && $0 != "[" }))
            try FactLine.checkName(name)
            let rowsText = rest.dropFirst(name.count)
            let rows: [Row]
            do {
                rows = try RowCodec.rows(try FactLine.json(String(rowsText)))
            } catch {
                throw BusError(.syntaxError, "replace needs a JSON array of rows: \(error.message)")
            }
            self = .change(.replace(table: name, rows: rows))
            return
        }
        guard let sign = text.first, sign == "+" || sign == "-" else {
            throw BusError(.syntaxError, "expected +table(...), -table(...), replace TABLE [[...]], begin or commit")
        }
        let body = text.dropFirst()
        guard let open = body.firstIndex(of: "("), body.last == ")" else {
            throw BusError(.syntaxError, "expected \(sign)table(value, ...)")
        }
        let name = String(body[..<open]).trimmingCharacters(in: " ")
        try FactLine.checkName(name)
        let arguments = body[body.index(after: open)..<body.index(before: body.endIndex)]
        let row: Row
        do {
            row = try RowCodec.row(try FactLine.json("[" + arguments + "]"))
        } catch {
            throw BusError(.syntaxError, "bad values in '\(text)': values are numbers or \"strings\"")
        }
        self = .change(sign == "+" ? .insert(table: name, row: row) : .delete(table: name, row: row))
    }

    static func json(_ text: String) throws(BusError) -> JSON {
        do { return try JSON.parse(text) } catch { throw BusError(error) }
    }

    static func checkName(_ name: String) throws(BusError) {
        guard TableID.isIdentifier(name) else { throw BusError(.badTableName, "'\(name)' is not a table name") }
    }
}

extension BusError.Code {
    /// The language's code, also used for malformed `publish` input lines.
    public static let syntaxError = BusError.Code(rawValue: "syntax-error")
}
