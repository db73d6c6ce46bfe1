internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Carries a thread's body through `pthread_create`'s context pointer.
private final class ThreadBody {
    let name: String
    let run: () -> Void
    init(_ name: String, _ run: @escaping () -> Void) {
        self.name = name
        self.run = run
    }
}

/// A plain OS thread for blocking loops, which must never run on the
/// cooperative thread pool.
struct OSThread {
    let id: pthread_t

    /// Starts a thread running `body`; the values `body` captures move to it.
    /// - Parameter name: shown by debuggers and `top -H` (at most 15 bytes are kept).
    static func start(name: String, _ body: sending @escaping () -> Void) throws(ZMQError) -> OSThread {
        let context = Unmanaged.passRetained(ThreadBody(name, body)).toOpaque()
        var id = pthread_t()
        let result = pthread_create(&id, nil, { context in
            let body = Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue()
            czmq_set_thread_name(body.name)
            body.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(context).release()
            throw ZMQError(code: result, operation: "pthread_create")
        }
        return OSThread(id: id)
    }

    /// Waits for the thread to finish. Call once, from another thread.
    func join() {
        _ = pthread_join(id, nil)
    }

    /// Lets the thread release its resources by itself when it finishes.
    func detach() {
        _ = pthread_detach(id)
    }
}
