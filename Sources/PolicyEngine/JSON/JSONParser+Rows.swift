// MARK: - Rows of values, without a tree

extension JSONParser {
    /// A table value starting here (after whitespace): an int, a float or a
    /// string. Anything else is consumed and described, so the caller can
    /// say what it found.
    package mutating func parseTableValue() throws(JSONError) -> Result<Value, NotAValue> {
        switch try peek() {
        case UInt8(ascii: "\""): return .success(.string(try parseString()))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            switch try parseNumber() {
            case .int(let number): return .success(.int(number))
            case .float(let number): return .success(.float(number))
            default: preconditionFailure("parseNumber returns numbers")
            }
        default:
            let json = try parseValue()
            return .failure(NotAValue(json: json))
        }
    }

    /// A JSON value that is not a table value.
    package struct NotAValue: Error {
        package var json: JSON

        /// "null", "a boolean", "a nested array" or "an object".
        package var description: String {
            switch json {
            case .bool: "a boolean"
            case .array: "a nested array"
            case .object: "an object"
            default: "null"
            }
        }
    }

    /// What was wrong with the first bad row of `parseRows`: what
    /// converting the tree would have refused first.
    package enum RowProblem: Error {
        /// A row that is not an array.
        case notAnArray
        /// A value that is not an int, a float or a string.
        case notAValue(JSON)
    }

    /// An array of rows starting here (after whitespace), read straight
    /// into rows: no tree of JSON values is built, and none is freed. The
    /// parse goes on past a bad row, so that malformed JSON after it is
    /// still reported as such; the first bad row is returned with the rows.
    /// Arrays keep their bound (`maxArrayCount`).
    /// - Returns: nil, with nothing consumed, when the value here is not an array.
    package mutating func parseRows() throws(JSONError) -> (rows: [[Value]], problem: RowProblem?)? {
        guard var read = try startRows() else { return nil }
        try readRows(&read, upTo: .max)
        return (read.rows, read.problem)
    }

    /// An array of rows being read a part at a time (`readRows(_:upTo:)`).
    package struct RowsRead: Sendable {
        package var rows: [[Value]] = []
        /// The first bad row's problem.
        package var problem: RowProblem?
        /// Rows read, bad ones included.
        var count = 0
        package var isDone = false
    }

    /// Opens the array of rows starting here (after whitespace).
    /// - Returns: nil, with nothing consumed, when the value here is not an array.
    package mutating func startRows() throws(JSONError) -> RowsRead? {
        guard try peek() == UInt8(ascii: "[") else { return nil }
        var read = RowsRead()
        read.isDone = try open(UInt8(ascii: "["), closing: UInt8(ascii: "]"))
        return read
    }

    /// Reads up to `limit` more rows of the array `startRows` opened, and
    /// its closing bracket after the last.
    package mutating func readRows(_ read: inout RowsRead, upTo limit: Int) throws(JSONError) {
        var taken = 0
        while !read.isDone, taken < limit {
            try checkArrayCount(read.count)
            read.count += 1
            taken += 1
            if try peek() == UInt8(ascii: "[") {
                read.rows.append(try parseRow(problem: &read.problem))
            } else {
                _ = try parseValue()
                if read.problem == nil { read.problem = .notAnArray }
            }
            read.isDone = try !next(closing: UInt8(ascii: "]"))
        }
    }

    /// One row (an array) starting here; a value that is not a table value
    /// is left out, and is the problem if there was none before.
    private mutating func parseRow(problem: inout RowProblem?) throws(JSONError) -> [Value] {
        var row: [Value] = []
        if try open(UInt8(ascii: "["), closing: UInt8(ascii: "]")) { return row }
        var columns = 0
        repeat {
            try checkArrayCount(columns)
            columns += 1
            switch try parseTableValue() {
            case .success(let value): row.append(value)
            case .failure(let notAValue): if problem == nil { problem = .notAValue(notAValue.json) }
            }
        } while try next(closing: UInt8(ascii: "]"))
        return row
    }

    // MARK: - The bus's own layout

    /// A string starting right here, or nil.
    package mutating func canonicalString() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        return try? parseString()
    }

    /// A number starting right here, or nil.
    package mutating func canonicalNumber() -> JSON? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "-") || isDigit(bytes[index]) else { return nil }
        return try? parseNumber()
    }

    /// `[[v,...],...]` of ints, floats and strings, without whitespace, or nil.
    package mutating func canonicalRows() -> [[Value]]? {
        guard skip("[") else { return nil }
        var rows: [[Value]] = []
        if skip("]") { return rows }
        repeat {
            guard let row = canonicalRow() else { return nil }
            rows.append(row)
        } while skip(",")
        return skip("]") ? rows : nil
    }

    mutating func canonicalRow() -> [Value]? {
        guard skip("[") else { return nil }
        var row: [Value] = []
        if skip("]") { return row }
        repeat {
            if let text = canonicalString() {
                row.append(.string(text))
            } else {
                switch canonicalNumber() {
                case .int(let number)?: row.append(.int(number))
                case .float(let number)?: row.append(.float(number))
                default: return nil
                }
            }
        } while skip(",")
        return skip("]") ? row : nil
    }
}
