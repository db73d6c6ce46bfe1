/// The data endpoint a client connects its SUB to (`docs/PROTOCOL.md` §7).
///
/// A node bound to a wildcard host (`*`, `0.0.0.0`, `[::]`, `::` or nothing)
/// advertises that host in its replies; it means "the host you reached my
/// control socket at". The Python client's `protocol.data_endpoint` does the
/// same, and both are tested against `Tests/Corpus/endpoints/data-endpoint.json`.
public enum DataEndpoint {
    /// Schemes whose address is `host:port`, optionally followed by a path.
    static let hostSchemes: Set<Substring> = ["tcp", "ws", "wss"]
    static let wildcardHosts: Set<Substring> = ["*", "0.0.0.0", "[::]", "::", ""]

    /// `advertised` with a wildcard host replaced by the control endpoint's
    /// host, or by `127.0.0.1` when that is a wildcard too or has no host
    /// (ipc, inproc: the node is on this machine). Anything else is returned
    /// unchanged.
    public static func resolve(_ advertised: String, control: String) -> String {
        guard let data = Address(advertised), wildcardHosts.contains(data.host) else { return advertised }
        var host: Substring = "127.0.0.1"
        if let reached = Address(control), !wildcardHosts.contains(reached.host) { host = reached.host }
        return "\(data.scheme)://\(host):\(data.port)\(data.path)"
    }

    /// `scheme://host:port/path`, split; nil for schemes without a host.
    struct Address {
        var scheme: Substring
        var host: Substring
        var port: Substring
        var path: Substring

        init?(_ endpoint: String) {
            guard let separator = endpoint.range(of: "://") else { return nil }
            scheme = endpoint[..<separator.lowerBound]
            guard DataEndpoint.hostSchemes.contains(scheme) else { return nil }
            let rest = endpoint[separator.upperBound...]
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<slash]
            // The last colon: an unbracketed IPv6 host has colons of its own.
            guard let colon = authority.lastIndex(of: ":") else { return nil }
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
            path = rest[slash...]
        }
    }
}
