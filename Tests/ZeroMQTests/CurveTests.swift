import Testing
import ZeroMQ

@Suite(.enabled(if: CurveKeyPair.isAvailable, "libzmq built without CURVE"))
struct CurveTests {
    @Test func keyPairsAreZ85AndConsistent() throws {
        let keys = try CurveKeyPair.generate()
        #expect(keys.publicKey.utf8.count == 40)
        #expect(keys.secretKey.utf8.count == 40)
        #expect(CurveKeyPair.isValidKey(keys.publicKey))
        #expect(try CurveKeyPair.publicKey(forSecretKey: keys.secretKey) == keys.publicKey)
        #expect(try CurveKeyPair(publicKey: keys.publicKey, secretKey: keys.secretKey) == keys)
        #expect(try CurveKeyPair.generate() != keys)
        #expect(!CurveKeyPair.isValidKey("too short"))
        let other = try CurveKeyPair.generate()
        #expect(throws: ZMQError.self) {
            try CurveKeyPair(publicKey: other.publicKey, secretKey: keys.secretKey)
        }
    }

    /// A CURVE ROUTER guarded by a ZAP handler and a DEALER client, then
    /// `check` on the server's monitor and sockets.
    func handshake(
        serverKeyOfClient: (CurveKeyPair) -> String,
        clientIsListed: Bool,
        check: (_ server: Socket, _ monitor: Socket, _ client: Socket, _ zap: ZAPHandler) throws -> Void
    ) throws {
        try withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let clientKeys = try CurveKeyPair.generate()
            let listed = clientIsListed ? clientKeys : try CurveKeyPair.generate()
            let zap = try ZAPHandler(context: context, allowedClientKeys: [listed.publicKey])
            defer { zap.stop() }
            let server = try Socket(context, .router)
            try server.makeCurveServer(serverKeys)
            try server.set(.receiveTimeout, 10_000)
            let monitor = try makeMonitor(of: server, events: [.handshakeSucceeded, .handshakeFailed])
            let client = try Socket(context, .dealer)
            try client.makeCurveClient(serverKey: serverKeyOfClient(serverKeys), keys: clientKeys)
            try bindAndConnect(server, client, over: .tcp)
            try client.send([[UInt8]("secret hello")])
            try check(server, monitor, client, zap)
            for socket in [monitor, server, client] { socket.close() }
        }
    }

    @Test func rightKeysConnect() throws {
        try handshake(serverKeyOfClient: { $0.publicKey }, clientIsListed: true) { server, monitor, _, zap in
            let event = try nextEvent(monitor, in: [.handshakeSucceeded, .handshakeFailed])
            #expect(event.event == .handshakeSucceeded)
            let message = try server.receive()
            #expect(message.last == [UInt8]("secret hello"))
            #expect(zap.counts.admitted == 1)
        }
    }

    @Test func wrongServerKeyFails() throws {
        let impostor = try CurveKeyPair.generate()
        try handshake(serverKeyOfClient: { _ in impostor.publicKey }, clientIsListed: true) { server, monitor, _, _ in
            let event = try nextEvent(monitor, in: [.handshakeSucceeded, .handshakeFailed])
            #expect(event.event != .handshakeSucceeded)
            #expect(try server.tryReceive() == nil)
        }
    }

    @Test func unlistedClientKeyIsDenied() throws {
        try handshake(serverKeyOfClient: { $0.publicKey }, clientIsListed: false) { server, monitor, _, zap in
            let event = try nextEvent(monitor, in: [.handshakeSucceeded, .handshakeFailed])
            #expect(event.event == .handshakeFailedAuth)
            #expect(try server.tryReceive() == nil)
            #expect(zap.counts.denied >= 1)
            #expect(zap.counts.admitted == 0)
        }
    }

    @Test func zapHandlerRejectsMalformedKeys() throws {
        try withContext { context in
            #expect(throws: ZMQError.self) {
                _ = try ZAPHandler(context: context, allowedClientKeys: ["not a key"])
            }
        }
    }

    @Test func plainSocketsInTheSameContextStillWork() throws {
        try withContext { context in
            let zap = try ZAPHandler(context: context, allowedClientKeys: [])
            defer { zap.stop() }
            let server = try Socket(context, .pair)
            let client = try Socket(context, .pair)
            try bindAndConnect(server, client, over: .tcp)
            try client.send([[UInt8]("plain")])
            #expect(try server.receive() == [[UInt8]("plain")])
            server.close()
            client.close()
        }
    }
}
