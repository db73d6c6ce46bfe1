/// A value stored in a table: a 64-bit integer, a float, or a string.
///
/// Values of different kinds are never equal: `6`, `6.0` and `"6"` are three
/// different values. Comparison builtins (`lt`, `<`, ...) compare integers and
/// floats numerically; that is the evaluator's business, not `==`'s.
public enum Value: Hashable, Sendable {
    case int(Int64)
    case float(Double)
    case string(String)
}

// MARK: - Ordering

extension Value: Comparable {
    /// A total order used to sort output: numbers (ints and floats together,
    /// numerically; an int before an equal float), then strings.
    public static func < (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.int(let a), .int(let b)): return a < b
        case (.float(let a), .float(let b)): return a < b
        case (.int(let a), .float(let b)): return Double(a) < b || (Double(a) == b)
        case (.float(let a), .int(let b)): return a < Double(b)
        case (.string(let a), .string(let b)): return a < b
        case (.string, _): return false
        case (_, .string): return true
        }
    }
}

// MARK: - Printing

extension Value: CustomStringConvertible {
    /// The value as it is written in policy text: `42`, `2.5`, `"a \"b\""`.
    public var description: String {
        switch self {
        case .int(let value):
            return String(value)
        case .float(let value):
            // Keep a decimal point so that the value reads back as a float.
            let text = String(value)
            return text.contains(where: { $0 == "." || $0 == "e" || $0 == "n" || $0 == "i" }) ? text : text + ".0"
        case .string(let value):
            return Value.quoted(value)
        }
    }

    /// `string` as a double-quoted literal that both policy text and JSON read back.
    static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case let control where control.value < 0x20:
                // \uXXXX reads back in policy text, and is also valid JSON.
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
