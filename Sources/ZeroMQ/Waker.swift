internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wakes a thread blocked in ``Poller/poll(timeout:)`` from any thread or task.
///
/// It is an `eventfd`: ``wake()`` makes ``fileDescriptor`` readable until the
/// polling thread calls ``drain()``. Wakes coalesce, so after draining the
/// poll loop must check everything that a wake can announce (e.g. a queue).
public final class Waker: Sendable {
    /// The fd to add to a ``Poller`` with `.readable`.
    public let fileDescriptor: Int32

    /// Creates a waker.
    /// - Throws: `ZMQError` with the errno of `eventfd(2)`.
    public init() throws(ZMQError) {
        let fd = czmq_eventfd_create()
        guard fd >= 0 else {
            throw ZMQError(code: errno, operation: "eventfd")
        }
        fileDescriptor = fd
    }

    deinit {
        _ = Glibc.close(fileDescriptor)
    }

    /// Makes ``fileDescriptor`` readable. Never blocks; safe from any thread.
    public func wake() {
        // A full counter (EAGAIN) still leaves the fd readable, so any
        // failure here is harmless.
        while czmq_eventfd_write(fileDescriptor) < 0 && errno == EINTR {}
    }

    /// Resets ``fileDescriptor`` to not readable. Call it on the polling thread
    /// after the fd was reported readable, before looking at the queued work.
    public func drain() {
        while czmq_eventfd_read(fileDescriptor) < 0 && errno == EINTR {}
    }
}
