import Foundation

/// A dedicated OS thread for a blocking poll loop, which must never run on
/// the cooperative pool. `join()` waits for it to finish.
public final class BlockingThread: Sendable {
    private let done = DispatchSemaphore(value: 0)

    /// Starts `body` on a new thread named `name`.
    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [done] in
            body()
            done.signal()
        }
        thread.name = name
        thread.stackSize = 4 << 20
        thread.start()
    }

    /// Waits until the thread's body returns. Call from a thread that may block.
    public func join() {
        done.wait()
        done.signal()  // later joins return at once
    }
}
