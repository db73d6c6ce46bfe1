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
