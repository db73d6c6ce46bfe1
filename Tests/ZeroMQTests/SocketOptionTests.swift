import Testing
import ZeroMQ

@Suite struct SocketOptionTests {
    @Test func integerOptionsRoundTrip() throws {
        try withContext { context in
            let socket = try Socket(context, .dealer)
            let options: [(SocketOption<Int32>, Int32)] = [
                (.sendHighWaterMark, 123), (.receiveHighWaterMark, 456), (.linger, 7),
                (.receiveTimeout, 250), (.sendTimeout, 350), (.heartbeatInterval, 1000),
                (.heartbeatTimeout, 3000), (.heartbeatTTL, 2000), (.reconnectInterval, 150),
                (.reconnectIntervalMax, 5000), (.handshakeInterval, 4000),
            ]
            for (option, value) in options {
                try socket.set(option, value)
                #expect(try socket.get(option) == value, "\(option.name)")
            }
            try socket.set(.maxMessageSize, 1 << 40)
            #expect(try socket.get(.maxMessageSize) == 1 << 40)
            socket.close()
        }
    }

    @Test func boolAndBytesOptions() throws {
        try withContext { context in
            let socket = try Socket(context, .dealer)
            try socket.set(.immediate, true)
            #expect(try socket.get(.immediate))
            try socket.set(.immediate, false)
            #expect(try !socket.get(.immediate))
            try socket.set(.routingID, [1, 2, 3])
            #expect(try socket.get(.routingID) == [1, 2, 3])
            try socket.set(.zapDomain, "policybus")
            #expect(try socket.get(.zapDomain) == "policybus")

            let xpub = try Socket(context, .xpub)
            try xpub.set(.xpubVerbose, true)
            try xpub.set(.xpubVerboser, true)
            let router = try Socket(context, .router)
            try router.set(.routerMandatory, true)
            for socket in [socket, xpub, router] { socket.close() }
        }
    }

    @Test(.enabled(if: CurveKeyPair.isAvailable))
    func curveOptionsReadBackAsZ85() throws {
        try withContext { context in
            let keys = try CurveKeyPair.generate()
            let server = try Socket(context, .router)
            try server.makeCurveServer(keys)
            #expect(try server.get(.curveServer))
            #expect(try server.get(.curvePublicKey) == keys.publicKey)
            #expect(try server.get(.curveSecretKey) == keys.secretKey)
            let client = try Socket(context, .dealer)
            try client.makeCurveClient(serverKey: keys.publicKey, keys: try CurveKeyPair.generate())
            #expect(try client.get(.curveServerKey) == keys.publicKey)
            #expect(try !client.get(.curveServer))
            let error = #expect(throws: ZMQError.self) { try client.set(.curveServerKey, "short") }
            #expect(error?.code == ZMQError.invalidArgument)
            server.close()
            client.close()
        }
    }

    @Test func socketsCannotBeCreatedAfterTerminate() throws {
        let context = try Context()
        context.terminate()
        let error = #expect(throws: ZMQError.self) { try Socket(context, .pair) }
        #expect(error?.isTerminated == true)
        context.shutdown()  // harmless after terminate
    }
}
