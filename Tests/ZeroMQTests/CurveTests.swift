import Testing
import TestSupport
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

    /// The one Z85 key check (libzmq's decoder) against the definition:
    /// 40 characters of the Z85 alphabet, each group of five at most 2^32 - 1.
    @Test func z85KeyCheckFollowsTheDefinition() throws {
        let key = try CurveKeyPair.generate().publicKey
        let seed = propertyTestSeed()
        print("CurveTests.z85KeyCheckFollowsTheDefinition seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let alphabet: [Character] = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#~ ")
        for _ in 0..<500 {
            var chars: [Character] = Array(key)
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                chars[Int.random(in: 0..<40, using: &random)] = alphabet.randomElement(using: &random)!
            }
            let candidate = String(chars)
            #expect(CurveKeyPair.isValidKey(candidate) == Self.isZ85Key(candidate), "seed \(seed): \(candidate)")
        }
        #expect(CurveKeyPair.isValidKey(key))
        #expect(!CurveKeyPair.isValidKey(String(key.dropLast())))
        #expect(!CurveKeyPair.isValidKey("#####" + key.dropFirst(5)), "a group above 2^32")
    }

    /// The Z85 definition, written out plainly as the test's reference.
    static func isZ85Key(_ key: String) -> Bool {
        let digits = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")
        let characters = Array(key)
        guard characters.count == 40 else { return false }
        for start in stride(from: 0, to: 40, by: 5) {
            var value: UInt64 = 0
            for character in characters[start..<(start + 5)] {
                guard let digit = digits.firstIndex(of: character) else { return false }
                value = value * 85 + UInt64(digit)
            }
            guard value <= UInt64(UInt32.max) else { return false }
        }
        return true
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
