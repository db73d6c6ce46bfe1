import Testing
import ZeroMQ

@Suite struct TimeoutTests {
    @Test func receiveTimeoutThrowsWouldBlock() throws {
        try withContext { context in
            let socket = try Socket(context, .pull)
            try socket.bind("tcp://127.0.0.1:*")
            try socket.set(.receiveTimeout, 20)
            #expect(try socket.get(.receiveTimeout) == 20)
            let error = #expect(throws: ZMQError.self) { try socket.receive() }
            #expect(error?.isWouldBlock == true)
            #expect(error?.code == ZMQError.wouldBlock)
            socket.close()
        }
    }

    @Test func tryReceiveReturnsNilWhenNothingWaits() throws {
        try withContext { context in
            let socket = try Socket(context, .sub)
            try socket.subscribe("")
            try socket.bind("inproc://empty")
            #expect(try socket.tryReceive() == nil)
            socket.close()
        }
    }

    /// A DEALER with no peer has nowhere to queue a message.
    @Test func sendWithoutPeerWouldBlock() throws {
        try withContext { context in
            let dealer = try Socket(context, .dealer)
            #expect(try dealer.trySend([[UInt8]("x")]) == false)
            try dealer.set(.sendTimeout, 20)
            let error = #expect(throws: ZMQError.self) { try dealer.send([[UInt8]("x")]) }
            #expect(error?.isWouldBlock == true)
            dealer.close()
        }
    }

    /// PUSH blocks (rather than drops) at its high-water mark.
    @Test func pushAtHighWaterMarkWouldBlock() throws {
        try withContext { context in
            let pull = try Socket(context, .pull)
            let push = try Socket(context, .push)
            try push.set(.sendHighWaterMark, 5)
            try pull.set(.receiveHighWaterMark, 5)
            try bindAndConnect(pull, push, over: .inproc)
            var accepted = 0
            while try push.trySend([[UInt8]("m")]) {
                accepted += 1
                try #require(accepted < 10_000, "PUSH never reached its high-water mark")
            }
            #expect(accepted >= 5)
            // Once the reader drains the queue, the writer can go on.
            var drained = 0
            while try pull.tryReceive() != nil { drained += 1 }
            #expect(drained == accepted)
            var poller = Poller()
            let item = poller.add(push, events: .writable)
            try poller.poll(timeout: 10_000)
            #expect(poller.isWritable(item))
            #expect(try push.trySend([[UInt8]("m")]))
            pull.close()
            push.close()
        }
    }
}
