import Dispatch
import Testing
import ZeroMQ

@Suite struct PollerTests {
    @Test func pollsSocketsAndAWakerTogether() throws {
        try withContext { context in
            let server = try Socket(context, .pull)
            let client = try Socket(context, .push)
            try bindAndConnect(server, client, over: .tcp)
            let waker = try Waker()
            var poller = Poller()
            let socketItem = poller.add(server, events: .readable)
            let wakeItem = poller.add(fd: waker.fileDescriptor, events: .readable)
            #expect(poller.count == 2)

            #expect(try poller.poll(timeout: 0) == 0)

            DispatchQueue.global().async { waker.wake() }
            try poller.poll(timeout: -1)
            #expect(poller.isReadable(wakeItem))
            #expect(!poller.isReadable(socketItem))
            waker.drain()
            #expect(try poller.poll(timeout: 0) == 0)

            // Wakes coalesce: two wakes, one drain.
            waker.wake()
            waker.wake()
            #expect(try poller.poll(timeout: 0) == 1)
            waker.drain()
            #expect(try poller.poll(timeout: 0) == 0)

            try client.send([[1]])
            try poller.poll(timeout: -1)
            #expect(poller.isReadable(socketItem))
            #expect(!poller.isReadable(wakeItem))
            #expect(try server.receive() == [[1]])
            server.close()
            client.close()
        }
    }

    @Test func pollingAClosedSocketThrows() throws {
        try withContext { context in
            let socket = try Socket(context, .pull)
            var poller = Poller()
            poller.add(socket)
            socket.close()
            let error = #expect(throws: ZMQError.self) { try poller.poll(timeout: 0) }
            #expect(error?.code == ZMQError.notSocket)
        }
    }

    @Test func fileDescriptorAndEvents() throws {
        try withContext { context in
            let server = try Socket(context, .pull)
            let client = try Socket(context, .push)
            try bindAndConnect(server, client, over: .inproc)
            #expect(try server.fileDescriptor >= 0)
            #expect(try !server.events.contains(.readable))
            try client.send([[1]])
            #expect(try server.events.contains(.readable))
            server.close()
            client.close()
        }
    }
}
