import Testing
import ZeroMQ

@Suite(.timeLimit(.minutes(1)))
struct SocketThreadTests {
    @Test func dealerAndRouterTalkFromAsyncCode() async throws {
        let context = try Context()
        let router = try SocketThread(context, .router, name: "test-router") { socket in
            try socket.bind("inproc://socket-thread-echo")
        }
        let dealer = try SocketThread(context, .dealer) { socket in
            try socket.set(.routingID, [UInt8]("d1"))
            try socket.connect("inproc://socket-thread-echo")
        }
        let count = 500
        for index in 0..<count {
            try dealer.send([[UInt8]("request \(index)")])
        }
        var requests = router.messages.makeAsyncIterator()
        for index in 0..<count {
            let request = try #require(await requests.next())
            #expect(request == [[UInt8]("d1"), [UInt8]("request \(index)")])
            try router.send([request[0], [UInt8]("reply \(index)")])
        }
        var replies = dealer.messages.makeAsyncIterator()
        for index in 0..<count {
            #expect(await replies.next() == [[UInt8]("reply \(index)")])
        }
        router.close()
        dealer.close()
        #expect(await requests.next() == nil)
        #expect(await replies.next() == nil)
        #expect(router.failedSends == 0)
    }

    @Test func takesOverAConfiguredSocket() async throws {
        let context = try Context()
        let pull = try Socket(context, .pull)
        try pull.bind("tcp://127.0.0.1:*")
        let endpoint = try pull.lastEndpoint
        let thread = try SocketThread(pull)
        let push = try SocketThread(context, .push) { try $0.connect(endpoint) }
        try push.send([[], [1, 2, 3]])
        var iterator = thread.messages.makeAsyncIterator()
        #expect(await iterator.next() == [[], [1, 2, 3]])
        push.close()
        thread.close()
    }

    @Test func rejectedSendsAreCounted() async throws {
        let context = try Context()
        let router = try SocketThread(context, .router) { socket in
            try socket.set(.routerMandatory, true)
            try socket.bind("inproc://mandatory")
        }
        try router.send([[UInt8]("nobody"), [1]])
        // A close is queued after the send, so the thread has handled the
        // send by the time the stream finishes.
        router.close()
        for await _ in router.messages {}
        #expect(router.failedSends == 1)
        #expect(throws: ZMQError.self) { try router.send([[1]]) }
    }
}
