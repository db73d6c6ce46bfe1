import Glibc
import PolicyBus
import Synchronization
import ZeroMQ

/// Stops the node on SIGINT or SIGTERM. `install()` runs first thing, before
/// the node is built (an engine can wait seconds for its peers); a signal that
/// arrives before `attach(_:)` is remembered and stops the node as soon as it
/// exists, so the process always shuts down cleanly. A command without a node
/// (`subscribe`) reads `received` in its own loop instead.
///
/// The handler is a plain `sigaction` handler that writes the signal's number
/// to a pipe (the self-pipe pattern); a thread of its own reads the pipe and
/// does the rest. Unlike a dispatch signal source it is in force when
/// `install()` returns, and it sees the signal whichever thread the kernel
/// delivers it to, so no signal is lost to a registration still under way.
enum SignalStop {
    /// How to stop the node (or relay), once attached, and the first signal received.
    static let target = Mutex<(stop: (@Sendable () -> Void)?, signal: Int32?)>((nil, nil))

    /// The first of SIGINT and SIGTERM received, if any.
    static var received: Int32? { target.withLock { $0.signal } }

    /// Installs the handlers, once, for the process's life.
    static func install() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { fatalError("pipe: errno \(errno)") }
        // Written before the handlers exist and never again, so the handler's
        // read of it cannot race.
        signalPipe = fds[1]
        let reader = fds[0]
        _ = BlockingThread(name: "signals") {
            var number: Int32 = 0
            while read(reader, &number, MemoryLayout<Int32>.size) == MemoryLayout<Int32>.size {
                deliver(number)
            }
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { number in
            // Only async-signal-safe calls here: write(2) of a word, keeping
            // the errno of the code it interrupted.
            let interrupted = errno
            var number = number
            _ = write(signalPipe, &number, MemoryLayout<Int32>.size)
            errno = interrupted
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        for number in [SIGINT, SIGTERM] { sigaction(number, &action, nil) }
    }

    /// Sends later signals to `control`, and stops it at once if one came already.
    static func attach(_ control: NodeControl) {
        attach(stop: control.stop)
    }

    /// Calls `stop` on a later signal, or at once if one came already.
    static func attach(stop: @escaping @Sendable () -> Void) {
        let signalled = target.withLock { target in
            target.stop = stop
            return target.signal != nil
        }
        if signalled { stop() }
    }

    private static func deliver(_ number: Int32) {
        let stop = target.withLock { target in
            target.signal = target.signal ?? number
            return target.stop
        }
        stop?()
    }
}

/// The write end of `SignalStop`'s pipe, read by its signal handler (a C
/// function pointer, which can capture nothing). Set once by `install()`
/// before any handler runs.
nonisolated(unsafe) private var signalPipe: Int32 = -1
