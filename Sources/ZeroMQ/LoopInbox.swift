import Synchronization

/// Work for a ``PollLoop``'s thread, submitted from any thread.
///
/// Each job gets the `Target` it works on (a node, say) from the loop's
/// owner, on the loop's thread: the target itself never crosses threads.
/// Jobs run in the order they were submitted.
///
/// ```swift
/// let inbox = LoopInbox<Server>(loop.remote)      // handed to other threads
/// loop.receive(inbox) { [unowned server] job in job(server) }
/// inbox.submit { server in server.reload() }      // from anywhere
/// ```
///
/// `submit` and `take` are `@inlinable` so that they are specialized for the
/// caller's `Target`: unspecialized, every call looked up the generic
/// metadata of the queue at run time (about 1 000 instructions a job).
public final class LoopInbox<Target>: Sendable {
    @usableFromInline let remote: PollLoop.Remote
    @usableFromInline let jobs = Mutex<[@Sendable (Target) -> Void]>([])

    /// An inbox for the loop whose remote this is.
    public init(_ remote: PollLoop.Remote) {
        self.remote = remote
    }

    /// Queues `job` for the loop's thread and wakes the loop. Never blocks.
    @inlinable
    public func submit(_ job: @escaping @Sendable (Target) -> Void) {
        // Only the first job of a batch wakes the loop: the loop drains its
        // waker before it takes the jobs, so a job added after the take
        // finds the queue empty and wakes it again. Saves a write(2) per job
        // when jobs arrive faster than the loop takes them.
        let wasEmpty = jobs.withLock { jobs in
            defer { jobs.append(job) }
            return jobs.isEmpty
        }
        if wasEmpty { remote.wake() }
    }

    /// Takes every queued job. On the loop's thread.
    @inlinable
    func take() -> [@Sendable (Target) -> Void] {
        jobs.withLock { jobs in
            defer { jobs.removeAll() }
            return jobs
        }
    }
}
