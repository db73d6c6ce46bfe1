/// Where the monitoring listener binds: `HOST:PORT`, `[IPV6]:PORT`, with
/// port `*` for one the system picks.
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    /// 0: any free port (written `*`).
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`.
    /// - Throws: ``MonitoringError`` `bad-address`, saying what is wrong.
    public init(parsing text: String) throws(MonitoringError) {
        guard let colon = text.lastIndex(of: ":") else {
            throw MonitoringError(.badAddress, "'\(text)' is not HOST:PORT (e.g. 127.0.0.1:9100)")
        }
        var host = String(text[..<colon])
        let port = String(text[text.index(after: colon)...])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(":") || text.hasPrefix("[") else {
            throw MonitoringError(.badAddress, "'\(text)' has no host; write HOST:PORT, with an IPv6 host in brackets")
        }
        guard !host.contains("/") else {
            throw MonitoringError(.badAddress, "'\(text)' is a URL; write HOST:PORT, e.g. 127.0.0.1:9100")
        }
        if port == "*" {
            self.init(host: host, port: 0)
            return
        }
        guard !port.isEmpty, port.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let number = Int(port), (1...65535).contains(number)
        else {
            throw MonitoringError(.badAddress, "'\(text)' has port '\(port)'; a port is 1-65535, or * for any")
        }
        self.init(host: host, port: number)
    }

    /// `HOST:PORT`, with an IPv6 host in brackets: what a URL needs.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
