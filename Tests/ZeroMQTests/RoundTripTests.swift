import Testing
import ZeroMQ

@Suite struct RoundTripTests {
    @Test(arguments: Transport.allCases)
    func multipartWithEmptyAndLargeFrames(over transport: Transport) throws {
        try withContext { context in
            let server = try Socket(context, .pair)
            let client = try Socket(context, .pair)
            try bindAndConnect(server, client, over: transport)
            let large = (0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let message: [[UInt8]] = [[UInt8]("head"), [], large, [], [0]]
            try client.send(message)
            #expect(try server.receive() == message)
            try server.send([[]])
            #expect(try client.receive() == [[]])
            server.close()
            client.close()
        }
    }

    @Test func receiveIntoReusesAndTrimsFrames() throws {
        try withContext { context in
            let server = try Socket(context, .pair)
            let client = try Socket(context, .pair)
            try bindAndConnect(server, client, over: .inproc)
            var frames: [[UInt8]] = [[9, 9, 9], [9], [9], [9]]
            try client.send([[1, 2], [3]])
            try server.receive(into: &frames)
            #expect(frames == [[1, 2], [3]])
            #expect(try server.receive(into: &frames, dontWait: true) == false)
            #expect(frames == [[1, 2], [3]])
            try client.send([[4], [], [5, 6, 7]])
            try server.receive(into: &frames)
            #expect(frames == [[4], [], [5, 6, 7]])
            server.close()
            client.close()
        }
    }

    @Test func frameByFrameSend() throws {
        try withContext { context in
            let server = try Socket(context, .pull)
            let client = try Socket(context, .push)
            try bindAndConnect(server, client, over: .tcp)
            let topic = [UInt8]("alice:error")
            _ = try topic.withUnsafeBytes { bytes in
                try client.sendFrame(bytes, more: true)
            }
            try client.sendFrame([UInt8]("body"), more: false)
            #expect(try server.receive() == [topic, [UInt8]("body")])
            server.close()
            client.close()
        }
    }

    @Test func sendingNoFramesIsAnError() throws {
        try withContext { context in
            let socket = try Socket(context, .pair)
            let error = #expect(throws: ZMQError.self) { try socket.send([]) }
            #expect(error?.code == ZMQError.invalidArgument)
            socket.close()
        }
    }
}
