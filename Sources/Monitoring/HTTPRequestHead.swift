/// The request line of an HTTP/1 request: all the monitoring endpoints need.
/// Headers are read past and ignored.
public struct HTTPRequestHead: Hashable, Sendable {
    public var method: String
    /// The path, without the query.
    public var path: String

    /// The largest request head read; a longer one is refused with 431.
    public static let maxSize = 8192

    /// Parses `GET /metrics?x HTTP/1.1\r\n...`. Returns nil for anything that
    /// is not an HTTP/1 request line.
    public init?(parsing bytes: some Collection<UInt8>) {
        let line = bytes.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[1].first == UInt8(ascii: "/"),
            parts[2].starts(with: Array("HTTP/1.".utf8))
        else { return nil }
        method = String(decoding: parts[0], as: UTF8.self)
        path = String(decoding: parts[1].prefix { $0 != UInt8(ascii: "?") }, as: UTF8.self)
    }

    /// Whether `bytes` hold a whole request head (up to the empty line).
    static func isComplete(_ bytes: [UInt8]) -> Bool {
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        guard bytes.count >= end.count else { return false }
        for start in 0...(bytes.count - end.count) where bytes[start..<(start + end.count)].elementsEqual(end) {
            return true
        }
        return false
    }
}
