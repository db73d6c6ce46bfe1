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
