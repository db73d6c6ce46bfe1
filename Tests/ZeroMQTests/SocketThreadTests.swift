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

    @Test func publisherThreadFeedsAPlainSubscriber() async throws {
        let context = try Context()
        let pub = try SocketThread(context, .pub) { try $0.bind("inproc://thread-pub") }
        let sub = try SocketThread(context, .sub) { socket in
            try socket.subscribe("t ")
            try socket.connect("inproc://thread-pub")
        }
        var received = sub.messages.makeAsyncIterator()
        // Publish until the subscription has reached the publisher.
        let ticker = Task {
            while !Task.isCancelled {
                try pub.send([[UInt8]("t sync")])
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        #expect(await received.next() == [[UInt8]("t sync")])
        ticker.cancel()
        _ = await ticker.result
        try pub.send([[UInt8]("x ignored")])
        try pub.send([[UInt8]("t last")])
        while let message = await received.next(), message != [[UInt8]("t last")] {
            #expect(message == [[UInt8]("t sync")])
        }
        pub.close()
        sub.close()
    }

    /// With IMMEDIATE a DEALER has no pipe until it connects, so sends wait
    /// in the thread's queue and go out, in order, once the peer appears.
    @Test func queuedSendsFlushWhenThePeerAppears() async throws {
        let context = try Context()
        let endpoint = Transport.ipc.bindEndpoint()
        let dealer = try SocketThread(context, .dealer) { socket in
            try socket.set(.immediate, true)
            try socket.set(.reconnectInterval, 10)
            try socket.connect(endpoint)
        }
        for index in 0..<3 {
            try dealer.send([[UInt8]("queued \(index)")])
        }
        let router = try SocketThread(context, .router) { try $0.bind(endpoint) }
        var requests = router.messages.makeAsyncIterator()
        for index in 0..<3 {
            let message = try #require(await requests.next())
            #expect(message.last == [UInt8]("queued \(index)"))
        }
        dealer.close()
        router.close()
        #expect(dealer.failedSends == 0)
    }
}

@Suite(.timeLimit(.minutes(1)))
struct SocketThreadWithSocketTests {
    @Test func changesSubscriptionsAfterTheHandOver() async throws {
        let context = try Context()
        let pub = try SocketThread(context, .pub) { try $0.bind("inproc://with-socket") }
        let sub = try SocketThread(context, .sub) { try $0.connect("inproc://with-socket") }
        try await sub.withSocket { try $0.subscribe("b ") }
        let linger = try await sub.withSocket { try $0.get(.linger) }
        #expect(linger == Socket.defaultLinger)
        var received = sub.messages.makeAsyncIterator()
        let ticker = Task {
            while !Task.isCancelled {
                try pub.send([[UInt8]("a skipped")])
                try pub.send([[UInt8]("b kept")])
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        #expect(await received.next() == [[UInt8]("b kept")])
        ticker.cancel()
        _ = await ticker.result
        pub.close()
        sub.close()
    }

    @Test func errorsComeBackToTheCaller() async throws {
        let context = try Context()
        let thread = try SocketThread(context, .pub) { try $0.bind("inproc://with-socket-error") }
        let error = await #expect(throws: ZMQError.self) {
            try await thread.withSocket { try $0.bind("not an endpoint") }
        }
        #expect(error?.code == ZMQError.invalidArgument)
        thread.close()
        for await _ in thread.messages {}
        let closed = await #expect(throws: ZMQError.self) {
            try await thread.withSocket { _ in 1 }
        }
        #expect(closed?.code == ZMQError.notSocket)
    }
}
