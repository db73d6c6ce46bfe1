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

    @Test func socketThreadCloseLetsTheContextTerminate() async throws {
        let context = try Context()
        let thread = try SocketThread(context, .sub) { socket in
            try socket.subscribe("")
            try socket.bind("tcp://127.0.0.1:*")
        }
        thread.close()
        for await _ in thread.messages {}
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                context.terminate()
                continuation.resume()
            }
        }
    }

    @Test func contextShutdownStopsASocketThread() async throws {
        let context = try Context()
        let thread = try SocketThread(context, .pull) { socket in
            try socket.bind("inproc://stopped-by-shutdown")
        }
        context.shutdown()
        for await _ in thread.messages {}
        // The thread has gone, so nothing can be queued any more.
        let error = #expect(throws: ZMQError.self) { try thread.send([[1]]) }
        #expect(error?.code == ZMQError.notSocket)
        thread.close()
    }
}
