import ArgumentParser

/// Checks an endpoint flag before anything binds or connects: libzmq wraps an
/// out-of-range port (`:99999` listens on 34463, `:-5` on 65531) and reports
/// a missing scheme only as `Invalid argument (errno 22)`.
enum EndpointSyntax {
    static let schemes = ["tcp://", "ipc://", "inproc://"]

    /// - Throws: `ValidationError` naming `flag` and saying what is wrong.
    static func check(_ endpoint: String, flag: String) throws {
        if let problem = problem(endpoint) {
            throw ValidationError("\(flag): '\(endpoint)' \(problem)")
        }
    }

    /// What is wrong with `endpoint`, or nil.
    static func problem(_ endpoint: String) -> String? {
        guard let scheme = schemes.first(where: endpoint.hasPrefix) else {
            return "needs a scheme: tcp://HOST:PORT, ipc://PATH or inproc://NAME"
        }
        let rest = endpoint.dropFirst(scheme.count)
        guard !rest.isEmpty else { return "has nothing after \(scheme)" }
        guard scheme == "tcp://" else { return nil }
        guard let colon = rest.lastIndex(of: ":") else { return "has no port: write tcp://HOST:PORT, with * for any port" }
        let host = rest[..<colon]
        let port = rest[rest.index(after: colon)...]
        guard !host.isEmpty else { return "has no host" }
        guard port == "*" || (port.allSatisfy(\.isASCII) && port.allSatisfy(\.isNumber) && (Int(port).map { (1...65535).contains($0) } ?? false))
        else {
            return "has port '\(port)'; a port is 1-65535, or * for any"
        }
        return nil
    }
}
