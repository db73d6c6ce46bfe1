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
        self.init(String(qualified))
    }

    /// Parses `service:name` (see the generic form). Reads the UTF-8 bytes
    /// directly: every data message's topic is parsed this way.
    public init?(_ qualified: String) {
        var text = qualified
        guard let table = text.withUTF8({ TableID(utf8: $0) }) else { return nil }
        self = table
    }

    /// Parses `service:name` from UTF-8 bytes, such as a message's topic.
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let service = UnsafeBufferPointer(rebasing: bytes[..<colon])
        let name = UnsafeBufferPointer(rebasing: bytes[(colon + 1)...])
        guard TableID.isIdentifier(utf8: service), TableID.isIdentifier(utf8: name) else { return nil }
        self.init(service: String(decoding: service, as: UTF8.self), name: String(decoding: name, as: UTF8.self))
    }

    /// The byte form of `isIdentifier`: a second `:`, or any byte that is
    /// not ASCII, fails it.
    static func isIdentifier(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                continue
            default:
                return false
            }
        }
        return true
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
