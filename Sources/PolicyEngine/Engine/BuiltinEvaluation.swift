/// The run-time meaning of arithmetic, builtins and comparisons.
///
/// Every function returns `nil` for a type error, an overflow or a division by
/// zero: at run time such a row simply does not derive.
enum BuiltinEvaluation {
    static func arithmetic(_ op: ArithmeticOperator, _ lhs: Value, _ rhs: Value) -> Value? {
        switch (lhs, rhs) {
        case (.int(let a), .int(let b)):
            let result: (partialValue: Int64, overflow: Bool)
            switch op {
            case .add: result = a.addingReportingOverflow(b)
            case .subtract: result = a.subtractingReportingOverflow(b)
            case .multiply: result = a.multipliedReportingOverflow(by: b)
            case .divide:
                guard b != 0 else { return nil }
                result = floorDivision(a, b)
            }
            return result.overflow ? nil : .int(result.partialValue)
        case (.int, .float), (.float, .int), (.float, .float):
            guard let a = lhs.number, let b = rhs.number else { return nil }
            switch op {
            case .add: return .float(a + b)
            case .subtract: return .float(a - b)
            case .multiply: return .float(a * b)
            case .divide: return b == 0 ? nil : .float(a / b)
            }
        default:
            return nil
        }
    }

    static func call(_ builtin: Builtin, _ inputs: [Value]) -> Value? {
        switch builtin {
        case .plus: return arithmetic(.add, inputs[0], inputs[1])
        case .minus: return arithmetic(.subtract, inputs[0], inputs[1])
        case .mul: return arithmetic(.multiply, inputs[0], inputs[1])
        case .div: return arithmetic(.divide, inputs[0], inputs[1])
        case .max:
            // The first when they are equal, as Python's max(x, y).
            guard let order = ordering(inputs[0], inputs[1]) else { return nil }
            return order < 0 ? inputs[1] : inputs[0]
        case .float:
            if case .string(let text) = inputs[0] { return NumberText.float(text).map(Value.float) }
            guard let number = inputs[0].number else { return nil }
            return .float(number)
        case .int:
            switch inputs[0] {
            case .int: return inputs[0]
            case .float(let number):
                guard number.isFinite, let truncated = Int64(exactly: number.rounded(.towardZero)) else { return nil }
                return .int(truncated)
            case .string(let text): return NumberText.integer(text).map(Value.int)
            }
        case .concat:
            guard case .string(let a) = inputs[0], case .string(let b) = inputs[1] else { return nil }
            return .string(a + b)
        case .len:
            guard case .string(let a) = inputs[0] else { return nil }
            // Unicode scalars, as Python's len: "e\u{301}" has 2, not 1 (its graphemes).
            return .int(Int64(a.unicodeScalars.count))
        }
    }

    /// Whether `op` holds.
    ///
    /// `=` and `!=` test value identity, exactly as joins and builtin outputs do
    /// (`1 = 1.0` is false, as `6`, `6.0` and `"6"` are different values). That
    /// keeps a rule's meaning independent of evaluation order: `x = 1.0` binds
    /// `x` to `1.0` when `x` is unbound, and accepts only `1.0` when it is bound.
    /// The ordering operators compare integers and floats numerically and
    /// exactly, and strings by Unicode scalars; ordering a string against a
    /// number is a type error (false).
    static func compare(_ op: ComparisonOperator, _ lhs: Value, _ rhs: Value) -> Bool {
        switch op {
        case .equal: return lhs == rhs
        case .notEqual: return lhs != rhs
        default: break
        }
        guard let order = ordering(lhs, rhs) else { return false }
        switch op {
        case .less: return order < 0
        case .lessOrEqual: return order <= 0
        case .greater: return order > 0
        case .greaterOrEqual: return order >= 0
        case .equal: return order == 0
        case .notEqual: return order != 0
        }
    }

    /// -1, 0 or 1: numbers exactly (an int is never rounded to a float),
    /// strings by Unicode scalars; nil for NaN or a string against a number.
    private static func ordering(_ lhs: Value, _ rhs: Value) -> Int? {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): String.scalarOrder(a, b)
        case (.string, _), (_, .string): nil
        default: Value.numericOrder(lhs, rhs)
        }
    }

    /// Integer division rounding down, as Congress's `div` (Python's `//`):
    /// `-7 / 3` is -3, where Swift's `/` gives -2.
    static func floorDivision(_ a: Int64, _ b: Int64) -> (partialValue: Int64, overflow: Bool) {
        let truncated = a.dividedReportingOverflow(by: b)
        guard !truncated.overflow, a % b != 0, (a < 0) != (b < 0) else { return truncated }
        // A truncated quotient with a remainder is never Int64.min, so this cannot overflow.
        return (truncated.partialValue - 1, false)
    }
}

extension Value {
    /// The value as a Double, for mixed int/float arithmetic; nil for strings.
    var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .float(let value): value
        case .string: nil
        }
    }
}
