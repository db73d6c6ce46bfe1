import Logging
import PolicyStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The data endpoint an engine bound, kept in its data directory so that a
/// restart binds the same port: a client that keeps its SUB connected (as
/// PROTOCOL.md section 7 says) hears from the restarted engine at once.
struct DataEndpointFile {
    /// `DIRECTORY/data-endpoint`.
    let path: String
    let directory: String

    init(directory: String) {
        self.directory = directory
        path = directory + "/data-endpoint"
    }

    /// The recorded endpoint, if it is a port on the host of `wildcard`
    /// (`tcp://HOST:*`, the endpoint bound without one): the control host may
    /// have changed since.
    func recorded(matching wildcard: String) -> String? {
        guard wildcard.hasSuffix(":*"), let fd = try? Posix.openFile(path, O_RDONLY) else { return nil }
        defer { Posix.closeFile(fd) }
        guard let bytes = try? Posix.readAll(fd, path: path) else { return nil }
        let endpoint = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: "\n")
        let host = wildcard.dropLast()
        guard endpoint.hasPrefix(host), let port = Int(endpoint.dropFirst(host.count)), (1...65535).contains(port) else { return nil }
        return endpoint
    }

    /// Records `endpoint` (write a new file, then rename it over the old one).
    func record(_ endpoint: String) throws {
        try Posix.makeDirectories(directory)
        let temporary = path + ".new"
        let fd = try Posix.openFile(temporary, O_WRONLY | O_CREAT | O_TRUNC)
        defer { Posix.closeFile(fd) }
        try Posix.writeAll(fd, Array((endpoint + "\n").utf8), at: 0, path: temporary)
        try Posix.renameFile(temporary, path)
    }
}
