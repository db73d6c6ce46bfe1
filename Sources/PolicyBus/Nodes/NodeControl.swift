import ZeroMQ

/// A handle to a running node, usable from any thread: queue work onto the
/// node's thread, or stop it.
public final class NodeControl: Sendable {
    /// Work for the node's loop.
    let inbox: LoopInbox<Node>
    let remote: PollLoop.Remote

    init(_ remote: PollLoop.Remote) {
        self.remote = remote
        inbox = LoopInbox(remote)
    }

    /// Runs `work` on the node's thread, in order with other submitted work.
    public func submit(_ work: @escaping @Sendable (Node) -> Void) {
        inbox.submit(work)
    }

    /// Asks the node to stop; `run()` returns soon after.
    public func stop() {
        remote.stop()
    }

    public var isStopping: Bool { remote.isStopping }
}
