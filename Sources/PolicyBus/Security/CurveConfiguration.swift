import ZeroMQ

/// CURVE settings of a node's server sockets (control ROUTER and data PUB).
///
/// Which clients get in is decided by the context's ``ZAPHandler``: with one,
/// only its listed client keys (or any key, for a handler that admits any);
/// without one, any client that knows the server's public key. Only with a
/// handler does the node learn each client's key, and scope client ids by it
/// (``ClientIdentity``).
public struct CurveServerConfiguration: Sendable, Hashable {
    /// The server's key pair; clients need its public key.
    public var keys: CurveKeyPair

    public init(keys: CurveKeyPair) {
        self.keys = keys
    }

    /// Makes `socket` a CURVE server. Call before `bind`.
    func apply(to socket: Socket) throws(ZMQError) {
        try socket.makeCurveServer(keys)
    }
}

/// CURVE settings of a client: the server's public key and the client's own
/// key pair. Used for both the control DEALER and the data SUB.
public struct CurveClientConfiguration: Sendable, Hashable {
    /// The server's Z85 public key.
    public var serverKey: String
    /// The client's key pair; the server's allow-list must hold its public key.
    public var keys: CurveKeyPair

    /// - Parameters:
    ///   - serverKey: the server's Z85 public key.
    ///   - keys: the client's key pair; nil makes a fresh one (enough for a
    ///     server without an allow-list).
    /// - Throws: `ZMQError` `EINVAL` for a malformed server key.
    public init(serverKey: String, keys: CurveKeyPair? = nil) throws(ZMQError) {
        guard CurveKeyPair.isValidKey(serverKey) else {
            throw ZMQError(code: ZMQError.invalidArgument, operation: "CurveClientConfiguration(malformed server key)")
        }
        self.serverKey = serverKey
        if let keys {
            self.keys = keys
        } else {
            self.keys = try CurveKeyPair.generate()
        }
    }

    /// Makes `socket` a CURVE client. Call before `connect`.
    func apply(to socket: Socket) throws(ZMQError) {
        try socket.makeCurveClient(serverKey: serverKey, keys: keys)
    }
}
