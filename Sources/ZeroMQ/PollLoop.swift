import Synchronization

/// One thread's event loop: it waits on sockets and plain fds, runs timers,
/// runs work submitted from other threads, and stops when asked.
///
/// A loop belongs to the thread that runs it, like the sockets it polls:
/// create it there (or hand it over before ``run()``), add what it waits on,
/// then call ``run()``, which returns after a stop. Other threads reach it
/// only through its ``remote`` (stop) and a ``LoopInbox`` (work).
///
/// ```swift
/// let loop = try PollLoop()
/// loop.add(router) { [unowned server] _ in server.readRequests() }
/// loop.receive(control.inbox) { [unowned server] job in job(server) }
/// loop.every(milliseconds: 1000) { [unowned server] now in server.sendHeartbeats(now: now) }
/// try loop.run()
/// ```
///
/// Handlers run on the loop's thread, one at a time, in the order their
/// items were added; a handler may add and remove items and timers. When
/// ``run()`` returns, the loop forgets every handler, so the objects they
/// capture (usually the loop's owner, `unowned`) can go.
public final class PollLoop {
    /// Called when a socket or fd is ready, with what it is ready for.
    public typealias Handler = (PollEvents) -> Void

    /// A socket or fd added to the loop, for ``remove(_:)`` and ``setEvents(_:for:)``.
    public struct Item: Hashable, Sendable {
        fileprivate let id: Int
    }

    /// A timer, for ``cancel(_:)``.
    public struct Timer: Hashable, Sendable {
        fileprivate let id: Int
    }

    /// What other threads may do to a loop: stop it.
    public let remote: Remote

    private enum Source {
        case socket(Socket)
        case fd(Int32)
    }

    private struct Entry {
        let source: Source
        var events: PollEvents
        let handler: Handler
    }

    private struct TimerEntry {
        var due: UInt64
        /// Nil for a one-shot timer.
        let interval: UInt64?
        let body: (UInt64) -> Void
    }

    private var entries: [Int: Entry] = [:]
    /// The polled items' ids, in the poller's order; rebuilt when items change.
    private var polled: [Int] = []
    private var poller = Poller()
    private var itemsChanged = true
    private var timers: [Int: TimerEntry] = [:]
    /// Each received inbox's drain.
    @usableFromInline var inboxes: [() -> Void] = []
    private var nextID = 0

    /// The longest a turn's work (inbox jobs, handlers, due timers) has held
    /// the loop since it started, in nanoseconds: how long everything else
    /// it serves (heartbeats, other clients) waited. The wait itself is not
    /// counted, and long work that served the loop midway (``served(now:)``)
    /// counts as the stretches between.
    public private(set) var longestTurnNanoseconds: UInt64 = 0
    /// When the turn's work began, or the loop was last served midway.
    public private(set) var lastServedNanoseconds: UInt64 = monotonicNanoseconds()

    /// Creates a loop with its waker (an eventfd).
    /// - Throws: `ZMQError` if the eventfd cannot be created.
    public init() throws(ZMQError) {
        remote = Remote(waker: try Waker())
    }

    // MARK: - What the loop waits on

    /// Adds a socket; the loop keeps it alive and polls it until ``remove(_:)``.
    /// - Parameters:
    ///   - events: what to wait for (`.readable` by default).
    ///   - handler: called on the loop's thread when the socket is ready.
    @discardableResult
    public func add(_ socket: Socket, events: PollEvents = .readable, _ handler: @escaping Handler) -> Item {
        add(.socket(socket), events: events, handler)
    }

    /// Adds a plain file descriptor (a pipe, a network socket).
    @discardableResult
    public func add(fd: Int32, events: PollEvents = .readable, _ handler: @escaping Handler) -> Item {
        add(.fd(fd), events: events, handler)
    }

    private func add(_ source: Source, events: PollEvents, _ handler: @escaping Handler) -> Item {
        let id = newID()
        entries[id] = Entry(source: source, events: events, handler: handler)
        itemsChanged = true
        return Item(id: id)
    }

    /// Stops polling an item; its handler is not called again. Remove a
    /// socket before closing it.
    public func remove(_ item: Item) {
        guard entries.removeValue(forKey: item.id) != nil else { return }
        itemsChanged = true
    }

    /// Changes what an item waits for, e.g. adds `.writable` while a send
    /// queue is blocked.
    public func setEvents(_ events: PollEvents, for item: Item) {
        guard entries[item.id] != nil, entries[item.id]!.events != events else { return }
        entries[item.id]!.events = events
        itemsChanged = true
    }

    /// Runs each job submitted to `inbox` (from any thread) on the loop's
    /// thread, in order, through `run`: the loop's owner hands each job
    /// what it works on. Jobs submitted before this call run too.
    @inlinable
    public func receive<Target>(_ inbox: LoopInbox<Target>, _ run: @escaping (@Sendable (Target) -> Void) -> Void) {
        precondition(inbox.remote === remote, "an inbox is received by the loop it was made for")
        inboxes.append {
            for job in inbox.take() { run(job) }
        }
        remote.wake()
    }

    // MARK: - Timers

    /// Calls `body` every `milliseconds`, first after one interval, with the
    /// time (``monotonicNanoseconds()``). A late loop does not call it
    /// twice to catch up.
    @discardableResult
    public func every(milliseconds: Int, _ body: @escaping (UInt64) -> Void) -> Timer {
        let interval = UInt64.milliseconds(Swift.max(milliseconds, 1))
        return schedule(TimerEntry(due: monotonicNanoseconds() + interval, interval: interval, body: body))
    }

    /// Calls `body` once, at `deadline` (``monotonicNanoseconds()``) or as
    /// soon after as the loop gets to it.
    @discardableResult
    public func at(_ deadline: UInt64, _ body: @escaping (UInt64) -> Void) -> Timer {
        schedule(TimerEntry(due: deadline, interval: nil, body: body))
    }

    /// Cancels a timer; harmless for one that already fired.
    public func cancel(_ timer: Timer) {
        timers[timer.id] = nil
    }

    private func schedule(_ timer: TimerEntry) -> Timer {
        let id = newID()
        timers[id] = timer
        return Timer(id: id)
    }

    private func newID() -> Int {
        nextID += 1
        return nextID
    }

    // MARK: - Running

    /// Whether ``stop()`` (or the remote's) was called.
    public var isStopping: Bool { remote.isStopping }

    /// Asks ``run()`` to return once the current handler is done.
    public func stop() {
        remote.stop()
    }

    /// Runs until stopped, then forgets every item, timer and inbox.
    /// - Throws: `ZMQError` when polling fails: `ETERM` if a socket's
    ///   context was shut down, `ENOTSOCK` if a socket was closed while
    ///   still added.
    public func run() throws(ZMQError) {
        defer { forgetAll() }
        while !remote.isStopping {
            try turn()
        }
    }

    /// One wait and the handlers of whatever became ready: the body of ``run()``.
    private func turn() throws(ZMQError) {
        if itemsChanged { rebuildPoller() }
        try poller.poll(timeout: timeout(now: monotonicNanoseconds()))
        lastServedNanoseconds = monotonicNanoseconds()
        defer { served() }
        if poller.isReadable(0) {
            remote.waker.drain()
            for drain in inboxes { drain() }
        }
        for (index, id) in polled.enumerated().dropFirst() {
            let events = poller.events(at: index)
            // A handler may have removed a later item: skip it then.
            guard !events.isEmpty, let entry = entries[id], !remote.isStopping else { continue }
            entry.handler(events)
        }
        runDueTimers()
    }

    /// Notes that what the loop serves was served now: a turn's end, or
    /// long work in a handler that paused to do the loop's duties itself
    /// (send heartbeats, read its sockets), which ends the stall there.
    public func served(now: UInt64 = monotonicNanoseconds()) {
        longestTurnNanoseconds = Swift.max(longestTurnNanoseconds, now - Swift.min(now, lastServedNanoseconds))
        lastServedNanoseconds = now
    }

    /// Milliseconds until the next timer is due (rounded up), or -1.
    private func timeout(now: UInt64) -> Int {
        guard let due = timers.values.lazy.map(\.due).min() else { return -1 }
        return due > now ? Int((due - now + 999_999) / 1_000_000) : 0
    }

    private func runDueTimers() {
        let now = monotonicNanoseconds()
        guard timers.values.contains(where: { $0.due <= now }) else { return }
        for (id, timer) in timers.sorted(by: { $0.value.due < $1.value.due }) where timer.due <= now {
            guard timers[id] != nil, !remote.isStopping else { continue }  // cancelled by an earlier body
            if let interval = timer.interval {
                timers[id]!.due = Swift.max(timer.due + interval, now)
            } else {
                timers[id] = nil
            }
            timer.body(now)
        }
    }

    /// The waker first, then the items in the order they were added.
    private func rebuildPoller() {
        poller = Poller()
        poller.add(fd: remote.waker.fileDescriptor, events: .readable)
        polled = [0] + entries.keys.sorted()
        for id in polled.dropFirst() {
            let entry = entries[id]!
            switch entry.source {
            case .socket(let socket): poller.add(socket, events: entry.events)
            case .fd(let fd): poller.add(fd: fd, events: entry.events)
            }
        }
        itemsChanged = false
    }

    private func forgetAll() {
        entries.removeAll()
        timers.removeAll()
        inboxes.removeAll()
        rebuildPoller()
    }
}

@available(*, unavailable)
extension PollLoop: Sendable {}

extension PollLoop {
    /// The part of a loop other threads may use: ask it to stop, or wake it.
    public final class Remote: Sendable {
        let waker: Waker
        private let stopping = Atomic(false)

        init(waker: Waker) {
            self.waker = waker
        }

        /// Asks the loop to stop; its ``PollLoop/run()`` returns soon after.
        /// Never blocks; safe from any thread, any number of times.
        public func stop() {
            stopping.store(true, ordering: .releasing)
            waker.wake()
        }

        /// Whether the loop was asked to stop.
        public var isStopping: Bool { stopping.load(ordering: .acquiring) }

        @usableFromInline
        func wake() {
            waker.wake()
        }
    }
}
