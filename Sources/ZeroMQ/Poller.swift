internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Waits on several sockets and plain file descriptors at once (`zmq_poll`).
///
/// Add items once, then call ``poll(timeout:)`` in a loop and ask which items
/// are ready by the index `add` returned. A poller keeps its sockets alive; it
/// is used on the thread that owns them.
///
/// ```swift
/// var poller = Poller()
/// let control = poller.add(router, events: .readable)
/// let wake = poller.add(fd: waker.fileDescriptor, events: .readable)
/// while running {
///     try poller.poll(timeout: 1000)
///     if poller.isReadable(control) { ... }
///     if poller.isReadable(wake) { waker.drain() }
/// }
/// ```
public struct Poller {
    private var items: [zmq_pollitem_t] = []
    /// The socket of each item, nil for plain fds; keeps the sockets alive.
    private var sockets: [Socket?] = []

    /// Creates an empty poller.
    public init() {}

    /// The number of items.
    public var count: Int { items.count }

    /// Adds a socket.
    /// - Parameters:
    ///   - socket: the socket; it must stay open while it is polled.
    ///   - events: what to wait for.
    /// - Returns: the item's index, for ``events(at:)`` and ``setEvents(_:at:)``.
    @discardableResult
    public mutating func add(_ socket: Socket, events: PollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: events.rawValue, revents: 0))
        sockets.append(socket)
        return items.count - 1
    }

    /// Adds a plain file descriptor (a ``Waker``, a pipe, a network socket).
    /// - Returns: the item's index.
    @discardableResult
    public mutating func add(fd: Int32, events: PollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fd, events: events.rawValue, revents: 0))
        sockets.append(nil)
        return items.count - 1
    }

    /// Changes what item `index` waits for, e.g. adds `.writable` while a
    /// send queue is blocked.
    public mutating func setEvents(_ events: PollEvents, at index: Int) {
        items[index].events = events.rawValue
    }

    /// Waits until an item is ready or the timeout passes.
    ///
    /// An interrupted wait (`EINTR`) returns 0 rather than restarting, so the
    /// caller's loop can re-check its state.
    /// - Parameter timeout: milliseconds; -1 waits forever, 0 just checks.
    /// - Returns: the number of ready items (0 on timeout).
    /// - Throws: `ZMQError`; `ETERM` if a socket's context was shut down,
    ///   `ENOTSOCK` if a socket was closed.
    @discardableResult
    public mutating func poll(timeout: Int) throws(ZMQError) -> Int {
        for index in sockets.indices {
            items[index].revents = 0
            guard let socket = sockets[index] else { continue }
            guard let handle = socket.handle else {
                throw ZMQError(code: ENOTSOCK, operation: "zmq_poll(item \(index))")
            }
            items[index].socket = handle
        }
        let count = items.count
        let ready = items.withUnsafeMutableBufferPointer { buffer in
            zmq_poll(buffer.baseAddress, Int32(count), timeout)
        }
        if ready >= 0 { return Int(ready) }
        let error = ZMQError.last("zmq_poll")
        if error.code == EINTR { return 0 }
        throw error
    }

    /// What item `index` was found ready for by the last ``poll(timeout:)``.
    public func events(at index: Int) -> PollEvents {
        PollEvents(rawValue: items[index].revents)
    }

    /// Whether item `index` was readable at the last ``poll(timeout:)``.
    public func isReadable(_ index: Int) -> Bool {
        events(at: index).contains(.readable)
    }

    /// Whether item `index` was writable at the last ``poll(timeout:)``.
    public func isWritable(_ index: Int) -> Bool {
        events(at: index).contains(.writable)
    }
}

@available(*, unavailable)
extension Poller: Sendable {}
