import Foundation
import Synchronization
import ZeroMQ

/// A node running on its own thread, for programs and tests that embed one.
///
/// The node is created on that thread and never leaves it; the handle
/// carries its endpoints and its `NodeControl`.
public final class NodeThread: Sendable {
    public let control: NodeControl
    public let controlEndpoint: String
    public let dataEndpoint: String
    let thread: BlockingThread

    /// Creates the node with `make` on a new thread and runs it.
    /// - Throws: whatever `make` throws.
    public static func start(name: String, _ make: @escaping @Sendable () throws(BusError) -> Node) throws(BusError) -> NodeThread {
        let ready = DispatchSemaphore(value: 0)
        let result = ResultBox()
        let thread = BlockingThread(name: name) {
            let node: Node
            do throws(BusError) {
                node = try make()
            } catch {
                result.set(.failure(error))
                ready.signal()
                return
            }
            result.set(.success((node.control, node.controlEndpoint, node.dataEndpoint)))
            ready.signal()
            node.run()
        }
        ready.wait()
        let (control, controlEndpoint, dataEndpoint) = try result.get().get()
        return NodeThread(control: control, controlEndpoint: controlEndpoint, dataEndpoint: dataEndpoint, thread: thread)
    }

    init(control: NodeControl, controlEndpoint: String, dataEndpoint: String, thread: BlockingThread) {
        self.control = control
        self.controlEndpoint = controlEndpoint
        self.dataEndpoint = dataEndpoint
        self.thread = thread
    }

    /// Stops the node and waits for its thread. Blocks: not for the cooperative pool.
    public func stop() {
        control.stop()
        thread.join()
    }
}

/// Hands the node's startup result from its thread to the starter.
private final class ResultBox: Sendable {
    typealias Value = Result<(NodeControl, String, String), BusError>
    private let value = Mutex<Value?>(nil)
    func set(_ result: Value) { value.withLock { $0 = result } }
    func get() -> Value { value.withLock { $0! } }
}
