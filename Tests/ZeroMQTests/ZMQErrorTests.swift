import Testing
import ZeroMQ

@Suite struct ZMQErrorTests {
    @Test func malformedEndpointCarriesErrnoAndText() throws {
        try withContext { context in
            let socket = try Socket(context, .pub)
            let error = try #require(throws: ZMQError.self) { try socket.bind("nonsense") }
            #expect(error.code == ZMQError.invalidArgument)
            #expect(!error.message.isEmpty)
            #expect(error.operation.contains("nonsense"))
            #expect(error.description.contains(error.message))
            socket.close()
        }
    }

    @Test func unknownTransportIsNotInvalidArgument() throws {
        try withContext { context in
            let socket = try Socket(context, .pub)
            let error = try #require(throws: ZMQError.self) { try socket.connect("bogus://x") }
            #expect(error.code != 0)
            #expect(!error.isWouldBlock)
            socket.close()
        }
    }

    @Test func writeOnlyOptionCannotBeRead() throws {
        try withContext { context in
            let socket = try Socket(context, .sub)
            #expect(throws: ZMQError.self) { try socket.get(.subscribe) }
            socket.close()
        }
    }

    @Test func lastEndpointAfterWildcardBind() throws {
        try withContext { context in
            let socket = try Socket(context, .pub)
            try socket.bind("tcp://127.0.0.1:*")
            let endpoint = try socket.lastEndpoint
            let port = try #require(Int(endpoint.split(separator: ":").last ?? ""))
            #expect(port > 0)
            try socket.unbind(endpoint)
            #expect(throws: ZMQError.self) { try socket.unbind(endpoint) }
            socket.close()
        }
    }

    @Test func defaultLingerIsShort() throws {
        try withContext { context in
            let socket = try Socket(context, .push)
            #expect(try socket.get(.linger) == Socket.defaultLinger)
            #expect(Socket.defaultLinger >= 0 && Socket.defaultLinger <= 1000)
            socket.close()
        }
    }
}
