import Synchronization
import Testing
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a `BlockingThread` (a loop blocks; the cooperative pool
/// must not) and returns its result.
func onBlockingThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        _ = BlockingThread(name: "test-loop") {
            continuation.resume(with: Result { try body() })
        }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct PollLoopTests {
    /// Both ends of a request/reply exchange on one loop: every request is
    /// answered, in order, and the replies come back in order.
    @Test func dealerAndRouterTalkOnOneLoop() async throws {
        let replies = try await onBlockingThread { () throws -> [String] in
            let context = try Context()
            let router = try Socket(context, .router)
            try router.bind("inproc://loop-echo")
            let dealer = try Socket(context, .dealer)
            try dealer.connect("inproc://loop-echo")
            let loop = try PollLoop()
            var replies: [String] = []
            loop.add(router) { _ in
                while let request = try? router.tryReceive() {
                    _ = try? router.send([request[0], Array("reply to \(String(decoding: request[1], as: UTF8.self))".utf8)])
                }
            }
            loop.add(dealer) { _ in
                while let reply = try? dealer.tryReceive() {
                    replies.append(String(decoding: reply[0], as: UTF8.self))
                    if replies.count == 500 { loop.stop() }
                }
            }
            for index in 0..<500 { try dealer.send([Array("\(index)".utf8)]) }
            try loop.run()
            router.close()
            dealer.close()
            return replies
        }
        #expect(replies == (0..<500).map { "reply to \($0)" })
    }

    /// Work submitted from other threads runs on the loop's thread, in the
    /// order each thread submitted it, and gets the target the owner hands it.
    @Test func submittedWorkRunsInOrderOnTheLoopsThread() async throws {
        final class Target { var seen: [Int: [Int]] = [:] }
        let seen = try await onBlockingThread { () throws -> [Int: [Int]] in
            let loop = try PollLoop()
            let target = Target()
            let inbox = LoopInbox<Target>(loop.remote)
            loop.receive(inbox) { job in job(target) }
            let loopThread = currentThreadID()
            let remote = loop.remote
            // Three threads, 300 jobs each; the last job of each counts down.
            let remaining = Locked(3)
            for thread in 0..<3 {
                _ = BlockingThread(name: "test-submit") {
                    for index in 0..<300 {
                        inbox.submit { target in
                            precondition(currentThreadID() == loopThread, "a job ran off the loop's thread")
                            target.seen[thread, default: []].append(index)
                        }
                    }
                    inbox.submit { _ in
                        if remaining.update({ $0 -= 1; return $0 }) == 0 { remote.stop() }
                    }
                }
            }
            try loop.run()
            return target.seen
        }
        #expect(seen.count == 3)
        for thread in 0..<3 { #expect(seen[thread] == Array(0..<300)) }
    }

    /// A repeating timer fires on its interval, a one-shot timer once, and a
    /// cancelled timer never.
    @Test func timersFireAndCancelledOnesDoNot() async throws {
        let (ticks, shots, cancelledFired) = try await onBlockingThread { () throws -> (Int, Int, Bool) in
            let loop = try PollLoop()
            var ticks = 0
            var shots = 0
            var cancelledFired = false
            let cancelled = loop.at(monotonicNanoseconds() + .milliseconds(20)) { _ in cancelledFired = true }
            loop.cancel(cancelled)
            loop.at(monotonicNanoseconds()) { _ in shots += 1 }
            loop.every(milliseconds: 5) { _ in
                ticks += 1
                if ticks == 10 { loop.stop() }
            }
            try loop.run()
            return (ticks, shots, cancelledFired)
        }
        #expect(ticks == 10)
        #expect(shots == 1)
        #expect(!cancelledFired)
    }

    /// A timer's time is the clock's, and never before it was due.
    @Test func aTimerRunsNoEarlierThanItsDeadline() async throws {
        let (deadline, firedAt) = try await onBlockingThread { () throws -> (UInt64, UInt64) in
            let loop = try PollLoop()
            let deadline = monotonicNanoseconds() + .milliseconds(30)
            var firedAt: UInt64 = 0
            loop.at(deadline) { now in
                firedAt = now
                loop.stop()
            }
            try loop.run()
            return (deadline, firedAt)
        }
        #expect(firedAt >= deadline)
    }

    /// The loop keeps the longest time one turn's work held it: a timer that
    /// holds the loop 30 ms counts at least that, and the 500 ms idle wait does not.
    @Test func theLongestTurnCountsAHandlersWorkNotTheWait() async throws {
        let (idle, busy) = try await onBlockingThread { () throws -> (UInt64, UInt64) in
            let loop = try PollLoop()
            var idle: UInt64 = 0
            loop.at(monotonicNanoseconds() + .milliseconds(500)) { _ in
                idle = loop.longestTurnNanoseconds
                let start = monotonicNanoseconds()
                while monotonicNanoseconds() - start < .milliseconds(30) {}
            }
            loop.at(monotonicNanoseconds() + .milliseconds(550)) { _ in loop.stop() }
            try loop.run()
            return (idle, loop.longestTurnNanoseconds)
        }
        #expect(idle < .milliseconds(500))
        #expect(busy >= .milliseconds(30))
    }

    /// Another thread's stop ends `run()` even when nothing else happens,
    /// and the loop forgets its handlers, releasing what they capture.
    @Test func aRemoteStopEndsTheLoopAndReleasesItsHandlers() async throws {
        final class Owner {}
        let remote = Locked<PollLoop.Remote?>(nil)
        let released = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await onBlockingThread { () throws -> Bool in
                    let loop = try PollLoop()
                    var owner: Owner? = Owner()
                    weak var watched = owner
                    loop.every(milliseconds: 60_000) { [owner] _ in _ = owner }
                    owner = nil
                    remote.update { $0 = loop.remote }
                    try loop.run()
                    return watched == nil
                }
            }
            while remote.value == nil { try await Task.sleep(for: .milliseconds(5)) }
            remote.value!.stop()
            return try await group.next()!
        }
        #expect(released)
    }

    /// A handler may remove an item that is ready in the same turn: its
    /// handler is not called, and the loop stops polling it.
    @Test func aRemovedItemIsNotCalled() async throws {
        let (firstCalls, secondCalls) = try await onBlockingThread { () throws -> (Int, Int) in
            let context = try Context()
            let pull = try Socket(context, .pull)
            try pull.bind("inproc://loop-remove")
            let push = try Socket(context, .push)
            try push.connect("inproc://loop-remove")
            let otherPull = try Socket(context, .pull)
            try otherPull.bind("inproc://loop-remove-2")
            let otherPush = try Socket(context, .push)
            try otherPush.connect("inproc://loop-remove-2")
            let loop = try PollLoop()
            var firstCalls = 0
            var secondCalls = 0
            var second: PollLoop.Item?
            loop.add(pull) { _ in
                while (try? pull.tryReceive()) != nil { firstCalls += 1 }
                loop.remove(second!)
                loop.at(monotonicNanoseconds() + .milliseconds(50)) { _ in loop.stop() }
            }
            second = loop.add(otherPull) { _ in secondCalls += 1 }
            try push.send([[1]])
            try otherPush.send([[2]])
            // inproc delivers at once: both are readable before the loop's first wait.
            #expect(try pull.events.contains(.readable) && otherPull.events.contains(.readable))
            try loop.run()
            for socket in [pull, push, otherPull, otherPush] { socket.close() }
            return (firstCalls, secondCalls)
        }
        #expect(firstCalls >= 1)
        #expect(secondCalls == 0)
    }

    /// `.writable` is reported while a socket can send, and the item's
    /// events can change between turns.
    @Test func writableEventsCanBeTurnedOnAndOff() async throws {
        let calls = try await onBlockingThread { () throws -> [PollEvents] in
            let context = try Context()
            let push = try Socket(context, .push)
            try push.bind("inproc://loop-writable")
            let pull = try Socket(context, .pull)
            try pull.connect("inproc://loop-writable")
            let loop = try PollLoop()
            var calls: [PollEvents] = []
            var item: PollLoop.Item?
            item = loop.add(push, events: .writable) { events in
                calls.append(events)
                loop.setEvents(.readable, for: item!)  // a PUSH is never readable
                loop.at(monotonicNanoseconds() + .milliseconds(30)) { _ in loop.stop() }
            }
            try loop.run()
            push.close()
            pull.close()
            return calls
        }
        #expect(calls == [.writable])
    }

    /// A context shut down under a running loop ends it with ETERM.
    @Test func contextShutdownEndsTheLoopWithETERM() async throws {
        let context = try Context()
        let remote = Locked<PollLoop.Remote?>(nil)
        let code = try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask {
                try await onBlockingThread { () throws -> Int32? in
                    let pull = try Socket(context, .pull)
                    defer { pull.close() }
                    try pull.bind("inproc://loop-shutdown")
                    let loop = try PollLoop()
                    loop.add(pull) { _ in }
                    remote.update { $0 = loop.remote }
                    do {
                        try loop.run()
                        return nil
                    } catch let error as ZMQError {
                        return error.code
                    }
                }
            }
            while remote.value == nil { try await Task.sleep(for: .milliseconds(5)) }
            context.shutdown()
            return try await group.next()!
        }
        #expect(code == ZMQError.terminated)
        context.terminate()
    }
}

/// The calling thread's id, to check which thread runs a job.
func currentThreadID() -> UInt {
    UInt(pthread_self())
}

/// A value several threads of a test share.
final class Locked<Value: Sendable>: Sendable {
    private let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
    var value: Value { state.withLock { $0 } }
    @discardableResult
    func update<R: Sendable>(_ body: (inout Value) -> R) -> R { state.withLock { body(&$0) } }
}
