import Testing
import ZeroMQ

/// `zmq_msg_gets` through `receive(reading:)`: the user id a ZAP handler
/// gives a connection, and its absence without one.
@Suite(.enabled(if: CurveKeyPair.isAvailable, "libzmq built without CURVE"))
struct MessagePropertyTests {
    enum Guard: CaseIterable {
        /// A ZAPHandler listing the client's key.
        case allowList
        /// A ZAPHandler admitting any key.
        case anyKey
        /// CURVE without a ZAP handler.
        case none
    }

    /// A CURVE ROUTER over tcp and one DEALER with `clientKeys`, which sends
    /// `hello`; returns what the ROUTER received and the User-Id it read.
    func receiveFromCurveClient(_ clientKeys: CurveKeyPair, guard mode: Guard) throws -> (frames: [[UInt8]], value: String?) {
        try withContext { context in
            let zap: ZAPHandler? = switch mode {
            case .allowList: try ZAPHandler(context: context, allowedClientKeys: [clientKeys.publicKey])
            case .anyKey: try ZAPHandler(admittingAnyKeyIn: context)
            case .none: nil
            }
            defer { zap?.stop() }
            let serverKeys = try CurveKeyPair.generate()
            let server = try Socket(context, .router)
            try server.makeCurveServer(serverKeys)
            try server.set(.receiveTimeout, 10_000)
            let client = try Socket(context, .dealer)
            try client.makeCurveClient(serverKey: serverKeys.publicKey, keys: clientKeys)
            try bindAndConnect(server, client, over: .tcp)
            try client.send([[UInt8]("hello")])
            defer {
                server.close()
                client.close()
            }
            return try server.receive(reading: .userID)
        }
    }

    @Test(arguments: [Guard.allowList, .anyKey])
    func theUserIDOfAnAdmittedClientIsItsPublicKey(_ mode: Guard) throws {
        let alice = try CurveKeyPair.generate()
        let bob = try CurveKeyPair.generate()
        let fromAlice = try receiveFromCurveClient(alice, guard: mode)
        let fromBob = try receiveFromCurveClient(bob, guard: mode)
        #expect(fromAlice.frames.count == 2)
        #expect(fromAlice.frames.last == [UInt8]("hello"))
        #expect(fromAlice.value == alice.publicKey)
        #expect(fromBob.value == bob.publicKey)
    }

    @Test func withoutAZAPHandlerThereIsNoUserID() throws {
        let received = try receiveFromCurveClient(try CurveKeyPair.generate(), guard: .none)
        #expect(received.frames.last == [UInt8]("hello"))
        #expect(received.value == nil)
    }

    @Test func aPlaintextMessageHasNoUserIDButHasItsSocketType() throws {
        try withContext { context in
            let server = try Socket(context, .router)
            let client = try Socket(context, .dealer)
            try server.set(.receiveTimeout, 10_000)
            try bindAndConnect(server, client, over: .tcp)
            try client.send([[UInt8]("one"), [UInt8]("two")])
            let received = try server.receive(reading: .userID)
            #expect(received.frames.dropFirst() == [[UInt8]("one"), [UInt8]("two")])
            #expect(received.value == nil)
            try client.send([[UInt8]("three")])
            let typed = try server.receive(reading: .socketType)
            #expect(typed.value == "DEALER")
            #expect(try server.tryReceive(reading: .userID) == nil)
            server.close()
            client.close()
        }
    }
}
