internal import CZeroMQ
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dedicated OS thread for blocking work (a ``PollLoop``, a blocking read),
/// which must never run on Swift's cooperative pool. It runs its body once;
/// ``join()`` waits for the body to return.
///
/// The thread is detached: nothing has to join it, and any number of
/// callers may.
public final class BlockingThread: Sendable {
    private let done = DispatchSemaphore(value: 0)

    /// The stack size of every blocking thread: deep enough for the engine's
    /// recursive planner, like Foundation's `Thread.stackSize` set by hand.
    static let stackSize = 4 << 20

    /// Starts `body` on a new thread; the values `body` captures move to it.
    /// - Parameter name: shown by debuggers and `top -H` (at most 15 bytes are kept).
    /// - Precondition: the system can start a thread (`pthread_create` fails
    ///   only when the process is out of threads or memory).
    public init(name: String, _ body: sending @escaping () -> Void) {
        let start = Start(name: name, body: body, thread: self)
        let context = Unmanaged.passRetained(start).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, Self.stackSize)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var id = pthread_t()
        let result = pthread_create(&id, &attributes, { context in
            let start = Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
            czmq_set_thread_name(start.name)
            start.body()
            start.thread.finish()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            preconditionFailure("pthread_create failed (errno \(result))")
        }
    }

    /// Waits until the thread's body returns. Call from a thread that may block.
    public func join() {
        done.wait()
        done.signal()  // later joins return at once
    }

    private func finish() {
        done.signal()
    }

    /// What `pthread_create` hands the new thread.
    private final class Start {
        let name: String
        let body: () -> Void
        let thread: BlockingThread
        init(name: String, body: @escaping () -> Void, thread: BlockingThread) {
            self.name = name
            self.body = body
            self.thread = thread
        }
    }
}
