import Dispatch
import Testing
import ZeroMQ

/// Teardown must never hang; the time limit turns a hang into a failure.
@Suite(.timeLimit(.minutes(1)))
struct TeardownTests {
    @Test func terminateAfterClosingSocketsWithUnsentMessages() throws {
        let context = try Context()
        let push = try Socket(context, .push)
        // Nobody listens here, so the messages stay queued.
        try push.connect("tcp://127.0.0.1:9")
        for _ in 0..<100 {
            #expect(try push.trySend([[UInt8](repeating: 7, count: 100)]))
        }
        push.close()
        push.close()  // idempotent
        context.terminate()
        context.terminate()  // idempotent
    }

    @Test func droppingEverythingWithoutExplicitCloseReleases() throws {
        var context: Context? = try Context()
        var socket: Socket? = try Socket(context!, .pub)
        try socket!.bind("tcp://127.0.0.1:*")
        try socket!.send([[1]])
        context = nil  // the socket keeps it alive
        socket = nil  // closes the socket, then the context terminates
    }

    @Test func usingAClosedSocketThrowsNotSocket() throws {
        try withContext { context in
            let socket = try Socket(context, .pair)
            socket.close()
            #expect(socket.isClosed)
            let error = #expect(throws: ZMQError.self) { try socket.send([[1]]) }
            #expect(error?.code == ZMQError.notSocket)
            #expect(throws: ZMQError.self) { try socket.receive() }
            #expect(throws: ZMQError.self) { try socket.bind("inproc://x") }
        }
    }

    @Test func shutdownWakesABlockedReceiveWithETERM() async throws {
        let context = try Context()
        let code: Int32? = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let socket = try Socket(context, .pull)
                    defer { socket.close() }
                    try socket.bind("inproc://blocked")
                    _ = try socket.receive()
                    continuation.resume(returning: nil)
                } catch let error as ZMQError {
                    continuation.resume(returning: error.code)
                } catch {
                    continuation.resume(returning: nil)
                }
            }
            context.shutdown()
        }
        #expect(code == ZMQError.terminated)
        context.terminate()
    }

    @Test func aStoppedLoopsClosedSocketsLetTheContextTerminate() async throws {
        let context = try Context()
        try await onBlockingThread {
            let sub = try Socket(context, .sub)
            try sub.subscribe("")
            try sub.bind("tcp://127.0.0.1:*")
            let loop = try PollLoop()
            loop.add(sub) { _ in }
            loop.at(monotonicNanoseconds()) { _ in loop.stop() }
            try loop.run()
            sub.close()
        }
        try await onBlockingThread { context.terminate() }
    }
}
