#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A minimal HTTP/1.1 server on a thread of its own, for the monitoring
/// endpoints: it reads one request head per connection, answers it with
/// `handler`'s response, and closes the connection.
///
/// Connections are served one at a time; a client that sends nothing is
/// dropped after ``ioTimeoutSeconds``, so one slow client delays a scrape by
/// at most that. The handler runs on the listener's thread: it must only read
/// state that is safe to share (counters, ``HealthState``), never a node's
/// tables.
public final class HTTPListener: Sendable {
    /// The address bound, with the port the system picked for `*`.
    public let address: ListenAddress
    /// How long a connection may take to send its request or read the reply.
    public static let ioTimeoutSeconds = 2

    private let listenFD: Int32
    /// Written by `stop()` to wake the accept loop.
    private let wakeFDs: (read: Int32, write: Int32)
    private let done = DispatchSemaphore(value: 0)

    /// Binds `address` and starts serving.
    /// - Throws: ``MonitoringError`` `bad-address` when the host does not
    ///   resolve, `bind-failed` when the port is taken or not allowed.
    public init(address: ListenAddress, handler: @escaping @Sendable (HTTPRequestHead) -> HTTPResponse) throws(MonitoringError) {
        let fd = try Self.listeningSocket(address)
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            close(fd)
            throw MonitoringError(.bindFailed, "pipe: \(String(cString: strerror(errno)))")
        }
        listenFD = fd
        wakeFDs = (pipeFDs[0], pipeFDs[1])
        self.address = ListenAddress(host: address.host, port: Self.boundPort(fd))
        let thread = Thread { [listenFD, wakeFDs, done] in
            Self.acceptLoop(listenFD: listenFD, wakeFD: wakeFDs.read, handler: handler)
            done.signal()
        }
        thread.name = "policybus-http"
        thread.start()
    }

    /// Stops accepting, waits for the thread, and closes the socket. Call once.
    public func stop() {
        var byte: UInt8 = 1
        _ = write(wakeFDs.write, &byte, 1)
        done.wait()
        close(listenFD)
        close(wakeFDs.read)
        close(wakeFDs.write)
    }

    // MARK: - Socket setup

    private static func listeningSocket(_ address: ListenAddress) throws(MonitoringError) -> Int32 {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard status == 0, let first = list else {
            throw MonitoringError(.badAddress, "cannot resolve '\(address.host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw failure("socket", address) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, listen(fd, 16) == 0 else {
            let error = failure("bind", address)
            close(fd)
            throw error
        }
        return fd
    }

    private static func failure(_ call: String, _ address: ListenAddress) -> MonitoringError {
        MonitoringError(.bindFailed, "\(call) \(address): \(String(cString: strerror(errno))) (errno \(errno))")
    }

    private static func boundPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let family = Int32(storage.ss_family)
        let port: in_port_t = withUnsafePointer(to: &storage) { pointer in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }
        }
        return Int(in_port_t(bigEndian: port))
    }

    // MARK: - Serving

    private static func acceptLoop(listenFD: Int32, wakeFD: Int32, handler: @Sendable (HTTPRequestHead) -> HTTPResponse) {
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        while true {
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { return }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let client = accept(listenFD, nil, nil)
            guard client >= 0 else { continue }
            serve(client, handler)
            close(client)
        }
    }

    private static func serve(_ client: Int32, _ handler: (HTTPRequestHead) -> HTTPResponse) {
        var timeout = timeval(tv_sec: ioTimeoutSeconds, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let response: HTTPResponse
        var includeBody = true
        switch readHead(client) {
        case .complete(let bytes):
            if let head = HTTPRequestHead(parsing: bytes) {
                response = handler(head)
                includeBody = head.method != "HEAD"
            } else {
                response = .text(400, "not an HTTP/1 request")
            }
        case .tooLarge:
            response = .text(431, "the request head is over \(HTTPRequestHead.maxSize) bytes")
        case .timedOut:
            response = .text(408, "no request within \(ioTimeoutSeconds) s")
        case .closed:
            return
        }
        writeAll(client, response.encoded(includingBody: includeBody))
    }

    enum ReadResult {
        case complete([UInt8])
        case tooLarge, timedOut, closed
    }

    private static func readHead(_ client: Int32) -> ReadResult {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while !HTTPRequestHead.isComplete(bytes) {
            guard bytes.count <= HTTPRequestHead.maxSize else { return .tooLarge }
            let count = recv(client, &buffer, buffer.count, 0)
            if count < 0, errno == EINTR { continue }
            if count < 0, errno == EAGAIN || errno == EWOULDBLOCK { return .timedOut }
            guard count > 0 else { return .closed }
            bytes += buffer[0..<count]
        }
        return .complete(bytes)
    }

    private static func writeAll(_ client: Int32, _ bytes: [UInt8]) {
        #if canImport(Glibc)
        let flags = Int32(MSG_NOSIGNAL)  // a client gone early must not kill the process with SIGPIPE
        #else
        let flags: Int32 = 0
        #endif
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { send(client, $0.baseAddress! + sent, bytes.count - sent, flags) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            sent += count
        }
    }
}
