import Dispatch
import Synchronization
import ZeroMQ

/// A relay running on its own thread, for programs and tests that embed one
/// (the benchmark); `policybus relay` runs one on the command's thread.
public final class RelayThread: Sendable {
    public let controlEndpoint: String
    public let dataEndpoint: String
    let remote: PollLoop.Remote
    let thread: BlockingThread

    /// Creates the relay on a new thread and runs it.
    /// - Throws: what `Relay.init` throws.
    public static func start(_ options: RelayOptions, context: Context) throws(BusError) -> RelayThread {
        let ready = DispatchSemaphore(value: 0)
        let started = Mutex<Result<(String, String, PollLoop.Remote), BusError>?>(nil)
        let thread = BlockingThread(name: "relay") {
            do throws(BusError) {
                let relay = try Relay(options: options, context: context)
                started.withLock { $0 = .success((relay.controlEndpoint, relay.dataEndpoint, relay.remote)) }
                ready.signal()
                relay.run()
            } catch {
                started.withLock { $0 = .failure(error) }
                ready.signal()
            }
        }
        ready.wait()
        let (control, data, remote) = try started.withLock { $0! }.get()
        return RelayThread(controlEndpoint: control, dataEndpoint: data, remote: remote, thread: thread)
    }

    private init(controlEndpoint: String, dataEndpoint: String, remote: PollLoop.Remote, thread: BlockingThread) {
        self.controlEndpoint = controlEndpoint
        self.dataEndpoint = dataEndpoint
        self.remote = remote
        self.thread = thread
    }

    /// Stops the relay and waits for its thread. Blocks: not for the cooperative pool.
    public func stop() {
        remote.stop()
        thread.join()
    }
}
