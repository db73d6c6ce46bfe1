internal import CZeroMQ
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A libzmq context: the I/O threads and the registry of inproc endpoints that
/// sockets share.
///
/// A context is thread-safe. Sockets keep their context alive, so the context
/// is released only after every socket has closed. `terminate()` is the
/// explicit teardown; `deinit` terminates too, which never blocks because no
/// socket is left by then.
///
/// `@unchecked Sendable` is safe because libzmq documents contexts as
/// thread-safe, the handle never changes after `init`, and the only mutable
/// state (whether the context was terminated) is behind a `Mutex`.
public final class Context: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let terminated = Mutex(false)

    /// Creates a context.
    /// - Parameter ioThreads: the number of libzmq I/O threads (default 1).
    /// - Throws: `ZMQError` if libzmq cannot create the context.
    public init(ioThreads: Int32 = 1) throws(ZMQError) {
        guard let handle = zmq_ctx_new() else {
            throw ZMQError.last("zmq_ctx_new")
        }
        self.handle = handle
        if ioThreads != 1 {
            _ = zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
        }
    }

    deinit {
        terminate()
    }

    /// Makes every blocking call on this context's sockets fail with `ETERM`
    /// (`zmq_ctx_shutdown`), so the threads that own them can close them.
    /// New sockets cannot be created afterwards. Does not block.
    public func shutdown() {
        // Under the lock, so that terminate() cannot free the context meanwhile.
        terminated.withLock { done in
            if !done { _ = zmq_ctx_shutdown(handle) }
        }
    }

    /// Destroys the context (`zmq_ctx_term`). Idempotent.
    ///
    /// Blocks until every socket of the context is closed and their LINGER
    /// periods have passed; sockets default to a short LINGER, so this is
    /// quick once the sockets are closed. Do not call it from the cooperative
    /// thread pool while sockets are still open, nor from a thread that
    /// still has an open socket of this context.
    public func terminate() {
        let first = terminated.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// Runs a non-blocking libzmq call on the handle unless the context was
    /// terminated, holding the lock so that `terminate()` cannot free the
    /// context during the call.
    func withLiveHandle<R>(_ body: (UnsafeMutableRawPointer) -> R) -> R? {
        terminated.withLock { done in
            done ? nil : body(handle)
        }
    }
}
