internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A ZeroMQ socket. It owns its libzmq handle and keeps its context alive.
///
/// A socket is used by one thread at a time, so it is not `Sendable`. To
/// serve several from one thread, with timers and work from other threads,
/// run them on a ``PollLoop`` on a ``BlockingThread``.
///
/// New sockets get a LINGER of ``defaultLinger`` milliseconds, so closing
/// never leaves ``Context/terminate()`` waiting for long on unsent messages.
public final class Socket {
    /// The LINGER, in milliseconds, that every new socket starts with.
    public static let defaultLinger: Int32 = 100

    /// The context the socket belongs to; the socket keeps it alive.
    public let context: Context
    /// The socket's kind.
    public let type: SocketType

    /// nil once closed.
    private(set) var handle: UnsafeMutableRawPointer?
    /// One message reused by every receive, so receiving allocates only the
    /// bytes it hands out.
    let message: UnsafeMutablePointer<zmq_msg_t>

    /// Creates a socket of `type` in `context`.
    /// - Parameters:
    ///   - context: the context; the socket keeps a strong reference to it.
    ///   - type: the socket's kind.
    /// - Throws: `ZMQError`, e.g. `ETERM` if the context was terminated.
    public init(_ context: Context, _ type: SocketType) throws(ZMQError) {
        guard let created = context.withLiveHandle({ zmq_socket($0, type.rawValue) }) else {
            throw ZMQError(code: ZMQError.terminated, operation: "zmq_socket(\(type))")
        }
        guard let handle = created else {
            throw ZMQError.last("zmq_socket(\(type))")
        }
        self.context = context
        self.type = type
        self.handle = handle
        self.message = .allocate(capacity: 1)
        var linger = Self.defaultLinger
        _ = zmq_setsockopt(handle, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
    }

    deinit {
        close()
        message.deallocate()
    }

    /// Closes the socket (`zmq_close`). Idempotent; later calls on the socket
    /// throw `ENOTSOCK`. Never blocks: unsent messages are kept for at most
    /// the socket's LINGER by the context's I/O thread.
    public func close() {
        guard let handle else { return }
        self.handle = nil
        _ = zmq_close(handle)
    }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { handle == nil }

    /// The live handle, or `ENOTSOCK` if the socket was closed.
    @inline(__always)
    func liveHandle(_ operation: @autoclosure () -> String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let handle else {
            throw ZMQError(code: ENOTSOCK, operation: operation())
        }
        return handle
    }

    // MARK: - Endpoints

    /// Binds to `endpoint`, e.g. `"tcp://127.0.0.1:*"`, `"ipc:///tmp/x"`, `"inproc://name"`.
    /// - Throws: `ZMQError`, e.g. `EADDRINUSE` or `EINVAL` for a malformed endpoint.
    public func bind(_ endpoint: String) throws(ZMQError) {
        let handle = try liveHandle("zmq_bind(\(endpoint))")
        _ = try retryingEINTR("zmq_bind(\(endpoint))") { zmq_bind(handle, endpoint) }
    }

    /// Connects to `endpoint`. libzmq connects in the background and
    /// reconnects on its own.
    /// - Throws: `ZMQError`, e.g. `EINVAL` for a malformed endpoint.
    public func connect(_ endpoint: String) throws(ZMQError) {
        let handle = try liveHandle("zmq_connect(\(endpoint))")
        _ = try retryingEINTR("zmq_connect(\(endpoint))") { zmq_connect(handle, endpoint) }
    }

    /// Stops listening on `endpoint`, which must be the exact bound endpoint
    /// (for a wildcard port, use ``lastEndpoint``).
    /// - Throws: `ZMQError`, `ENOENT` if the socket is not bound there.
    public func unbind(_ endpoint: String) throws(ZMQError) {
        let handle = try liveHandle("zmq_unbind(\(endpoint))")
        _ = try retryingEINTR("zmq_unbind(\(endpoint))") { zmq_unbind(handle, endpoint) }
    }

    /// Drops the connection to `endpoint`.
    /// - Throws: `ZMQError`, `ENOENT` if the socket is not connected there.
    public func disconnect(_ endpoint: String) throws(ZMQError) {
        let handle = try liveHandle("zmq_disconnect(\(endpoint))")
        _ = try retryingEINTR("zmq_disconnect(\(endpoint))") { zmq_disconnect(handle, endpoint) }
    }

    /// The endpoint of the last bind or connect, with a wildcard port
    /// resolved (`"tcp://127.0.0.1:41237"`).
    public var lastEndpoint: String {
        get throws(ZMQError) {
            try get(.lastEndpoint)
        }
    }

    /// The socket's `ZMQ_FD`: it becomes readable when the socket's events
    /// *may* have changed (edge-triggered). Check ``events`` after it fires.
    /// Prefer ``Poller``, which handles this for you.
    public var fileDescriptor: Int32 {
        get throws(ZMQError) {
            try get(.fileDescriptor)
        }
    }

    /// The socket's current `ZMQ_EVENTS`: whether a message can be received
    /// or sent without blocking.
    public var events: PollEvents {
        get throws(ZMQError) {
            PollEvents(rawValue: Int16(truncatingIfNeeded: try get(.events)))
        }
    }
}

@available(*, unavailable)
extension Socket: Sendable {}

extension Socket: CustomStringConvertible {
    public var description: String {
        "Socket(\(type)\(isClosed ? ", closed" : ""))"
    }
}
