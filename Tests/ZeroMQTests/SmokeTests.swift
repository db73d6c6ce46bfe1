import Testing
import ZeroMQ

@Suite struct SmokeTests {
    @Test func pairRoundTrip() throws {
        let context = try Context()
        defer { context.terminate() }
        let a = try Socket(context, .pair)
        let b = try Socket(context, .pair)
        defer { a.close(); b.close() }
        try a.set(.linger, 0)
        #expect(try a.get(.linger) == 0)
        try a.bind("tcp://127.0.0.1:*")
        let endpoint = try a.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        try b.connect(endpoint)
        try b.send([[1, 2], [], [3]])
        #expect(try a.receive() == [[1, 2], [], [3]])
        #expect(try a.tryReceive() == nil)
        var poller = Poller()
        let item = poller.add(a, events: .readable)
        #expect(try poller.poll(timeout: 0) == 0)
        try b.send([[9]])
        try poller.poll(timeout: -1)
        #expect(poller.isReadable(item))
    }
}

@Suite struct SocketThreadSmoke {
    @Test func echo() async throws {
        let context = try Context()
        let server = try SocketThread(context, .pair) { socket in
            try socket.bind("inproc://echo")
        }
        let client = try SocketThread(context, .pair) { socket in
            try socket.connect("inproc://echo")
        }
        try client.send([[1], [2, 3]])
        var iterator = server.messages.makeAsyncIterator()
        let got = await iterator.next()
        #expect(got == [[1], [2, 3]])
        server.close()
        client.close()
        for await _ in client.messages {}
        for await _ in server.messages {}
    }
}
