import Testing
import ZeroMQ

@Suite struct RouterDealerTests {
    @Test(arguments: Transport.allCases)
    func routerSeesAndRoutesByDealerID(over transport: Transport) throws {
        try withContext { context in
            let router = try Socket(context, .router)
            let first = try Socket(context, .dealer)
            let second = try Socket(context, .dealer)
            try first.set(.routingID, [UInt8]("worker-1"))
            try second.set(.routingID, [UInt8]("worker-2"))
            #expect(try first.get(.routingID) == [UInt8]("worker-1"))
            let endpoint = try bindAndConnect(router, first, over: transport)
            try second.connect(endpoint)

            try first.send([[UInt8]("from 1")])
            try second.send([[UInt8]("from 2")])
            var byID: [String: String] = [:]
            for _ in 0..<2 {
                let message = try router.receive()
                try #require(message.count == 2)
                byID[message[0].text] = message[1].text
            }
            #expect(byID == ["worker-1": "from 1", "worker-2": "from 2"])

            try router.send([[UInt8]("worker-2"), [UInt8]("to 2")])
            try router.send([[UInt8]("worker-1"), [UInt8]("to 1")])
            #expect(try first.receive() == [[UInt8]("to 1")])
            #expect(try second.receive() == [[UInt8]("to 2")])
            for socket in [router, first, second] { socket.close() }
        }
    }

    @Test func routerMandatoryRejectsUnknownID() throws {
        try withContext { context in
            let router = try Socket(context, .router)
            try router.set(.routerMandatory, true)
            try router.bind("tcp://127.0.0.1:*")
            let error = #expect(throws: ZMQError.self) {
                try router.send([[UInt8]("nobody"), [UInt8]("hello")])
            }
            #expect(error?.code == ZMQError.hostUnreachable)
            router.close()
        }
    }

    @Test func routerWithoutMandatoryDropsSilently() throws {
        try withContext { context in
            let router = try Socket(context, .router)
            try router.bind("tcp://127.0.0.1:*")
            #expect(try router.trySend([[UInt8]("nobody"), [UInt8]("hello")]))
            router.close()
        }
    }

    @Test func reqRepEnvelope() throws {
        try withContext { context in
            let router = try Socket(context, .router)
            let req = try Socket(context, .req)
            try bindAndConnect(router, req, over: .ipc)
            try req.send([[UInt8]("ping")])
            let request = try router.receive()
            try #require(request.count == 3)
            #expect(request[1] == [])
            try router.send([request[0], [], [UInt8]("pong")])
            #expect(try req.receive() == [[UInt8]("pong")])
            // REQ must alternate send and receive.
            try req.send([[UInt8]("again")])
            let error = #expect(throws: ZMQError.self) { try req.send([[UInt8]("twice")]) }
            #expect(error?.code == ZMQError.invalidState)
            router.close()
            req.close()
        }
    }
}
