/// An error or a warning about policy text, as `policybus check` reports it.
public struct Diagnostic: Hashable, Sendable {
    public enum Severity: String, Hashable, Sendable {
        case error, warning
    }

    public var severity: Severity
    /// A stable code: an error's `PolicyError.Code`, or a `PolicyWarning` code.
    public var code: String
    public var message: String
    /// Where, when known; `policy` names the policy (the file's stem).
    public var location: SourceLocation?

    public init(severity: Severity, code: String, message: String, location: SourceLocation?) {
        self.severity = severity
        self.code = code
        self.message = message
        self.location = location
    }

    public init(_ error: PolicyError) {
        self.init(severity: .error, code: error.code.rawValue, message: error.message, location: error.location)
    }

    /// Orders by policy, line and column; diagnostics without a location last.
    static func isEarlier(_ a: Diagnostic, _ b: Diagnostic) -> Bool {
        guard let x = a.location else { return false }
        guard let y = b.location else { return true }
        return (x.policy, x.line, x.column) < (y.policy, y.line, y.column)
    }
}

extension PolicyError.Code {
    /// A file could not be written (`policybus fmt -w`).
    public static let unwritableFile = PolicyError.Code(rawValue: "unwritable-file")
}
