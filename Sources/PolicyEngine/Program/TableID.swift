/// The fully qualified name of a table: `service:name`.
///
/// The service is a policy (`alice:error`) or a data source (`nova:servers`).
/// Inside a policy's own text its tables are written unqualified; the front end
/// qualifies them before anything else sees them.
public struct TableID: Hashable, Sendable {
    public var service: String
    public var name: String

    public init(service: String, name: String) {
        self.service = service
        self.name = name
    }

    /// Parses `service:name`. Returns `nil` unless both parts are identifiers
    /// (letters, digits, `_`, `-`, `.`; not starting with a digit).
    public init?(_ qualified: some StringProtocol) {
        let parts = qualified.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2,
            TableID.isIdentifier(parts[0]), TableID.isIdentifier(parts[1])
        else { return nil }
        self.init(service: String(parts[0]), name: String(parts[1]))
    }

    /// Whether `text` can be a service or table name.
    public static func isIdentifier(_ text: some StringProtocol) -> Bool {
        guard let first = text.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { scalar in
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || scalar == "_" || scalar == "-" || scalar == "."
        }
    }
}

extension TableID: Comparable {
    public static func < (lhs: TableID, rhs: TableID) -> Bool {
        (lhs.service, lhs.name) < (rhs.service, rhs.name)
    }
}

extension TableID: CustomStringConvertible {
    public var description: String { "\(service):\(name)" }
}
