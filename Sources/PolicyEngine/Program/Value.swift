/// A value stored in a table: a 64-bit integer, a float, or a string.
///
/// Values of different kinds are never equal: `6`, `6.0` and `"6"` are three
/// different values. Comparison builtins (`lt`, `<`, ...) compare integers and
/// floats numerically; that is the evaluator's business, not `==`'s.
///
/// Strings are equal exactly when their Unicode scalars are: `"\u{E9}"` and
/// `"e\u{301}"` are two values (Swift's own `String ==` would merge them).
/// Nothing is normalised on the way in or out.
public enum Value: Hashable, Sendable {
    case int(Int64)
    case float(Double)
    case string(String)

    public static func == (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.int(let a), .int(let b)): a == b
        case (.float(let a), .float(let b)): a == b
        case (.string(let a), .string(let b)): a.hasSameScalars(as: b)
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .int(let value):
            hasher.combine(0 as UInt8)
            hasher.combine(value)
        case .float(let value):
            hasher.combine(1 as UInt8)
            hasher.combine(value)
        case .string(let value):
            // No kind discriminator: kinds are never equal, and a hash need only agree with ==.
            value.hashScalars(into: &hasher)
        }
    }
}

// MARK: - Ordering

extension Value: Comparable {
    /// A total order used to sort output: numbers (ints and floats together,
    /// exactly; an int before an equal float; NaN last), then strings by
    /// Unicode scalars.
    public static func < (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): return String.scalarOrder(a, b) < 0
        case (.string, _): return false
        case (_, .string): return true
        default:
            guard let order = numericOrder(lhs, rhs) else { return !lhs.isNaN && rhs.isNaN }
            if order == 0, case .int = lhs, case .float = rhs { return true }
            return order < 0
        }
    }

    /// -1, 0 or 1 comparing two numbers exactly: an int is never rounded to a
    /// float, so `9007199254740993 > 9007199254740992.0`. Nil for NaN or a string.
    static func numericOrder(_ lhs: Value, _ rhs: Value) -> Int? {
        switch (lhs, rhs) {
        case (.int(let a), .int(let b)): return a < b ? -1 : (a == b ? 0 : 1)
        case (.float(let a), .float(let b)): return a.isNaN || b.isNaN ? nil : (a < b ? -1 : (a == b ? 0 : 1))
        case (.int(let a), .float(let b)): return order(a, b)
        case (.float(let a), .int(let b)): return order(b, a).map { -$0 }
        default: return nil
        }
    }

    /// The order of an int and a float without rounding the int.
    private static func order(_ int: Int64, _ float: Double) -> Int? {
        guard !float.isNaN else { return nil }
        // 2^63 is exact as a double; every double at or beyond ±2^63 lies beyond every int.
        if float >= 9_223_372_036_854_775_808.0 { return -1 }
        if float < -9_223_372_036_854_775_808.0 { return 1 }
        let whole = float.rounded(.towardZero)
        let truncated = Int64(whole)
        if int != truncated { return int < truncated ? -1 : 1 }
        return whole < float ? -1 : (whole == float ? 0 : 1)
    }

    private var isNaN: Bool {
        if case .float(let value) = self { return value.isNaN }
        return false
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
