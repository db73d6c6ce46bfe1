import PolicyEngine

/// Finds a member of a JSON object's top level in its bytes, without parsing
/// (or copying) the values around it: a relay rewrites one short field of a
/// reply that may hold megabytes of rows, and keeps every other byte as the
/// node wrote it.
enum TopLevelMember {
    /// The byte range of the string value (quotes included) of member `key`
    /// of the object `bytes` holds; nil when `bytes` is not an object, has no
    /// such member before its first damage, or the member is not a string.
    /// Member names are compared as written (the node writes no escapes in them).
    static func stringValue(_ key: String, in bytes: [UInt8]) -> Range<Int>? {
        let name = Array(key.utf8)
        var scanner = Scanner(bytes: bytes)
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        while true {
            guard let member = scanner.string() else { return nil }
            guard scanner.take(UInt8(ascii: ":")) else { return nil }
            scanner.skipWhitespace()
            let start = scanner.position
            guard scanner.skipValue() else { return nil }
            if bytes[member.lowerBound + 1..<member.upperBound - 1].elementsEqual(name) {
                return bytes[start] == UInt8(ascii: "\"") ? start..<scanner.position : nil
            }
            guard scanner.take(UInt8(ascii: ",")) else { return nil }
        }
    }

    /// `bytes` with the string value of member `key` replaced by `value`;
    /// nil when there is no such string member.
    static func replacingString(_ key: String, in bytes: [UInt8], with value: String) -> (bytes: [UInt8], old: String)? {
        guard let range = stringValue(key, in: bytes) else { return nil }
        var quoted = JSONWriter()
        quoted.string(value)
        var result = bytes
        result.replaceSubrange(range, with: quoted.bytes)
        return (result, String(decoding: bytes[range.lowerBound + 1..<range.upperBound - 1], as: UTF8.self))
    }

    /// `bytes` with `prefix` put at the start of the string value of member
    /// `key`; nil when there is no such string member. `prefix` must be
    /// bytes JSON needs no escape for.
    static func prefixingString(_ key: String, in bytes: [UInt8], with prefix: some Collection<UInt8>) -> [UInt8]? {
        guard let range = stringValue(key, in: bytes) else { return nil }
        var result = bytes
        result.insert(contentsOf: prefix, at: range.lowerBound + 1)
        return result
    }

    /// A forward-only reader that skips values instead of building them.
    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        /// Skips whitespace, then `byte` if it is next.
        mutating func take(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        /// The range of the string starting here (after whitespace), quotes included.
        mutating func string() -> Range<Int>? {
            skipWhitespace()
            let start = position
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), skipString() else { return nil }
            return start..<position
        }

        /// Skips a string whose opening quote is at `position`.
        mutating func skipString() -> Bool {
            position += 1
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: "\\"): position += 2
                case UInt8(ascii: "\""):
                    position += 1
                    return true
                default: position += 1
                }
            }
            return false
        }

        /// Skips one value: a string, an array or object (brackets counted,
        /// strings inside skipped whole), or a number or word.
        mutating func skipValue() -> Bool {
            guard position < bytes.count else { return false }
            switch bytes[position] {
            case UInt8(ascii: "\""):
                return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while position < bytes.count {
                    switch bytes[position] {
                    case UInt8(ascii: "\""):
                        guard skipString() else { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            position += 1
                            return true
                        }
                    default: break
                    }
                    position += 1
                }
                return false
            default:
                let start = position
                while position < bytes.count, !",}] \t\r\n".utf8.contains(bytes[position]) { position += 1 }
                return position > start
            }
        }
    }
}
