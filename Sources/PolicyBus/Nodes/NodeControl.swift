import Synchronization
import ZeroMQ

/// A handle to a running node, usable from any thread: queue work onto the
/// node's thread, or stop it.
public final class NodeControl: Sendable {
    let waker: Waker
    let queue = Mutex<[@Sendable (Node) -> Void]>([])
    let stopping = Mutex(false)

    init() throws(ZMQError) {
        waker = try Waker()
    }

    /// Runs `work` on the node's thread, in order with other submitted work.
    public func submit(_ work: @escaping @Sendable (Node) -> Void) {
        // Only the first item of a batch wakes the node: the node drains the
        // waker before it takes the queue, so an item added after the take
        // finds the queue empty and wakes it again. Saves a write(2) per
        // item when work arrives faster than the node takes it.
        let wasEmpty = queue.withLock { queue in
            defer { queue.append(work) }
            return queue.isEmpty
        }
        if wasEmpty { waker.wake() }
    }

    /// Asks the node to stop; `run()` returns soon after.
    public func stop() {
        stopping.withLock { $0 = true }
        waker.wake()
    }

    public var isStopping: Bool { stopping.withLock { $0 } }
}
