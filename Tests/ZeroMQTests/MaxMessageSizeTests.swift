import Testing
import ZeroMQ

@Suite struct MaxMessageSizeTests {
    @Test func oversizeFrameDisconnectsThePeer() throws {
        try withContext { context in
            let server = try Socket(context, .pull)
            try server.set(.maxMessageSize, 1024)
            #expect(try server.get(.maxMessageSize) == 1024)
            let monitor = try makeMonitor(of: server, events: [.accepted, .disconnected])
            try server.set(.receiveTimeout, 10_000)
            let client = try Socket(context, .push)
            try client.set(.reconnectInterval, -1)  // stay disconnected once dropped
            try bindAndConnect(server, client, over: .tcp)
            _ = try nextEvent(monitor, in: .accepted)

            // Within the limit: delivered.
            try client.send([[UInt8](repeating: 1, count: 1000)])
            #expect(try server.receive() == [[UInt8](repeating: 1, count: 1000)])

            // Over the limit: the server drops the connection and the
            // message never arrives.
            try client.send([[UInt8](repeating: 2, count: 2048)])
            _ = try nextEvent(monitor, in: .disconnected)
            #expect(try server.tryReceive() == nil)
            for socket in [monitor, server, client] { socket.close() }
        }
    }
}
