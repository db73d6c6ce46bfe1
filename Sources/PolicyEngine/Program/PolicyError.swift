/// An error in policy text or in a change to the engine, with a stable code.
public struct PolicyError: Error, Hashable, Sendable {
    /// A stable, machine-readable error code such as `syntax-error`.
    ///
    /// A struct rather than an enum so that adding a code does not break users.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let syntaxError = Code(rawValue: "syntax-error")
        public static let arityMismatch = Code(rawValue: "arity-mismatch")
        public static let unsafeVariable = Code(rawValue: "unsafe-variable")
        public static let unstratifiedNegation = Code(rawValue: "unstratified-negation")
        public static let unknownBuiltin = Code(rawValue: "unknown-builtin")
        public static let unknownColumn = Code(rawValue: "unknown-column")
        public static let typeError = Code(rawValue: "type-error")
        public static let unknownPolicy = Code(rawValue: "unknown-policy")
        public static let unknownRule = Code(rawValue: "unknown-rule")
        public static let unknownTable = Code(rawValue: "unknown-table")
    }

    public var code: Code
    /// What is wrong and how to fix it.
    public var message: String
    /// Where, when the error is about policy text.
    public var location: SourceLocation?
    /// The errors found after this one by the same check, in line and column
    /// order: policy text reports every error it has (up to `reportLimit` in
    /// all), while code that wants one error reads this one alone.
    public var others: [PolicyError] = []
    /// For `too-expensive` over a transaction budget: what ran out. A
    /// change refused for time may fit when the machine is less busy; one
    /// refused for rows or bytes needs other data.
    public var exhausted: TransactionBudget.Resource?

    /// The most errors one check reports (a file with more gets the first ones).
    public static let reportLimit = 20

    public init(_ code: Code, _ message: String, at location: SourceLocation? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    /// This error and the others, each alone, in order.
    public var all: [PolicyError] {
        var first = self
        first.others = []
        return [first] + others
    }

    /// The first of `errors` by policy, line and column (errors without a
    /// location last), carrying the next ones up to `reportLimit`; nil when
    /// there are none.
    static func reporting(_ errors: [PolicyError]) -> PolicyError? {
        let sorted = errors.flatMap(\.all).sorted(by: isEarlier)
        guard var first = sorted.first else { return nil }
        first.others = Array(sorted.dropFirst().prefix(reportLimit - 1))
        return first
    }

    /// Orders by policy, line and column; errors without a location last.
    static func isEarlier(_ a: PolicyError, _ b: PolicyError) -> Bool {
        guard let x = a.location else { return false }
        guard let y = b.location else { return true }
        return (x.policy, x.line, x.column) < (y.policy, y.line, y.column)
    }
}

extension PolicyError: CustomStringConvertible {
    /// Compiler style: `alice:3:14: error[unsafe-variable]: ...`.
    public var description: String {
        guard let location else { return "error[\(code)]: \(message)" }
        return "\(location.policy):\(location.line):\(location.column): error[\(code)]: \(message)"
    }
}
