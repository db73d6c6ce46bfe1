import Synchronization

/// A socket for async code: a dedicated thread owns the socket and polls it,
/// received messages come out of ``messages``, and ``send(_:)`` queues a
/// message and wakes the thread.
///
/// No call blocks the caller, so a `SocketThread` is safe to use from the
/// cooperative thread pool. The send queue is unbounded: a producer that
/// outruns the socket should pace itself. Dropping the last reference
/// closes the thread, like ``close()``.
///
/// ```swift
/// let dealer = try SocketThread(context, .dealer) { socket in
///     try socket.connect(endpoint)
/// }
/// try dealer.send([Array("hello".utf8)])
/// for await reply in dealer.messages { ... }
/// dealer.close()
/// ```
public final class SocketThread: Sendable {
    /// Every message the socket receives, in order. It finishes when the
    /// thread stops: after ``close()``, or when the context is shut down.
    public let messages: AsyncStream<[[UInt8]]>

    private let shared: Shared

    /// Takes over `socket`; from now on only the new thread uses it.
    /// - Parameters:
    ///   - socket: a configured (bound or connected) socket.
    ///   - name: the thread's name.
    ///   - bufferingPolicy: how many received messages ``messages`` keeps
    ///     while nobody is reading it.
    /// - Throws: `ZMQError` if the wake-up fd or the thread cannot be created.
    public init(
        _ socket: sending Socket,
        name: String = "zmq-socket",
        bufferingPolicy: AsyncStream<[[UInt8]]>.Continuation.BufferingPolicy = .unbounded
    ) throws(ZMQError) {
        let (messages, continuation) = AsyncStream.makeStream(of: [[UInt8]].self, bufferingPolicy: bufferingPolicy)
        let shared = Shared(waker: try Waker(), continuation: continuation)
        self.messages = messages
        self.shared = shared
        let thread = try OSThread.start(name: name) {
            var loop = SocketLoop(socket: socket, shared: shared)
            loop.run()
        }
        thread.detach()
    }

    /// Creates a socket, lets `setup` configure it on the caller's thread
    /// (options, bind, connect), then hands it to a new thread.
    /// - Throws: `ZMQError` from the socket or from starting the thread, or
    ///   whatever `setup` throws.
    public convenience init(
        _ context: Context,
        _ type: SocketType,
        name: String = "zmq-socket",
        bufferingPolicy: AsyncStream<[[UInt8]]>.Continuation.BufferingPolicy = .unbounded,
        setup: (Socket) throws -> Void
    ) throws {
        let socket = try Socket(context, type)
        try setup(socket)
        try self.init(socket, name: name, bufferingPolicy: bufferingPolicy)
    }

    deinit {
        close()
    }

    /// Queues a message for the thread to send. Never blocks.
    ///
    /// The thread sends queued messages in order as soon as the socket
    /// accepts them. A message the socket rejects with an error (e.g.
    /// `EHOSTUNREACH` on a ROUTER_MANDATORY socket) is dropped and counted in
    /// ``failedSends``.
    /// - Throws: `ZMQError` `ENOTSOCK` after ``close()``.
    public func send(_ frames: [[UInt8]]) throws(ZMQError) {
        guard shared.enqueue(.send(frames)) else {
            throw ZMQError(code: ZMQError.notSocket, operation: "SocketThread.send")
        }
    }

    /// Runs `body` with the socket on the socket's thread, in order with the
    /// queued sends, and returns its result: use it to change options or
    /// subscriptions after the hand-over.
    ///
    /// ```swift
    /// try await subscriber.withSocket { try $0.subscribe("alice:error ") }
    /// ```
    /// - Throws: what `body` throws; `ENOTSOCK` if the thread has stopped.
    public func withSocket<R: Sendable>(
        _ body: @escaping @Sendable (Socket) throws -> R
    ) async throws -> R {
        let result: Result<R, any Error> = await withCheckedContinuation { continuation in
            let queued = shared.enqueue(.run { socket in
                continuation.resume(returning: Result { try body(socket) })
            })
            if !queued {
                continuation.resume(returning: .failure(ZMQError(
                    code: ZMQError.notSocket, operation: "SocketThread.withSocket")))
            }
        }
        return try result.get()
    }

    /// Stops the thread. Never blocks: the thread sends what the socket
    /// accepts at once, closes the socket and finishes ``messages``.
    /// Idempotent.
    public func close() {
        let first = shared.state.withLock { state in
            defer { state.closed = true }
            return !state.closed
        }
        if first { shared.waker.wake() }
    }

    /// The number of queued messages the socket rejected with an error.
    public var failedSends: Int {
        shared.state.withLock { $0.failedSends }
    }

    /// Work queued for the thread.
    enum Command: Sendable {
        case send([[UInt8]])
        /// Runs on the thread with the socket; it must not throw or block.
        case run(@Sendable (Socket) -> Void)
    }

    /// What the caller's side and the thread share.
    final class Shared: Sendable {
        struct State {
            var outbox: [Command] = []
            var closed = false
            var failedSends = 0
        }

        let state = Mutex(State())
        let waker: Waker
        let continuation: AsyncStream<[[UInt8]]>.Continuation

        init(waker: Waker, continuation: AsyncStream<[[UInt8]]>.Continuation) {
            self.waker = waker
            self.continuation = continuation
        }

        /// Queues `command` and wakes the thread; false once the thread is closing.
        func enqueue(_ command: Command) -> Bool {
            let queued = state.withLock { state in
                guard !state.closed else { return false }
                state.outbox.append(command)
                return true
            }
            if queued { waker.wake() }
            return queued
        }
    }
}

/// The body of a ``SocketThread``'s thread.
private struct SocketLoop {
    let socket: Socket
    let shared: SocketThread.Shared
    /// Commands taken from the outbox and not done yet: the first is a
    /// message the socket has not accepted.
    var pending: [SocketThread.Command] = []

    /// How many messages to receive before looking at the outbox again.
    static let receiveBatch = 256

    init(socket: consuming Socket, shared: SocketThread.Shared) {
        self.socket = socket
        self.shared = shared
    }

    mutating func run() {
        defer {
            shared.state.withLock { $0.closed = true }
            _ = takeOutbox()
            flush()
            socket.close()
            // Commands left over now meet a closed socket, so their callers
            // get ENOTSOCK instead of waiting forever.
            flush()
            shared.continuation.finish()
        }
        var poller = Poller()
        let socketItem = poller.add(socket, events: .readable)
        let wakeItem = poller.add(fd: shared.waker.fileDescriptor, events: .readable)
        do {
            while true {
                let closing = takeOutbox()
                flush()
                if closing { return }
                poller.setEvents(pending.isEmpty ? .readable : [.readable, .writable], at: socketItem)
                try poller.poll(timeout: -1)
                if poller.isReadable(wakeItem) { shared.waker.drain() }
                if poller.isReadable(socketItem) { try receiveBatch() }
            }
        } catch {
            // ETERM (context shut down) or a closed socket: stop.
        }
    }

    /// Moves queued commands to `pending`; returns whether close was requested.
    mutating func takeOutbox() -> Bool {
        let (batch, closing) = shared.state.withLock { state in
            let batch = state.outbox
            state.outbox = []
            return (batch, state.closed)
        }
        pending.append(contentsOf: batch)
        return closing
    }

    /// Works through pending commands in order until a send would block.
    mutating func flush() {
        var done = 0
        var failed = 0
        commands: for command in pending {
            switch command {
            case .send(let message):
                do {
                    guard try socket.trySend(message) else { break commands }
                } catch {
                    failed += 1
                }
            case .run(let body):
                body(socket)
            }
            done += 1
        }
        pending.removeFirst(done)
        if failed > 0 {
            shared.state.withLock { $0.failedSends += failed }
        }
    }

    func receiveBatch() throws(ZMQError) {
        for _ in 0..<Self.receiveBatch {
            guard let message = try socket.tryReceive() else { return }
            shared.continuation.yield(message)
        }
    }
}
