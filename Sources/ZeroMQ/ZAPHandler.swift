import Synchronization

/// Authenticates CURVE clients for every server socket of a context: it
/// admits a client only if its public key is listed (ZeroMQ's ZAP, RFC 27),
/// or any client key when made with ``init(admittingAnyKeyIn:domain:)``.
///
/// The user id of an admitted connection is the client's Z85 public key:
/// read it from any message of the connection with
/// ``Socket/tryReceive(reading:)`` and ``MessageProperty/userID``, to know
/// which key sent a request.
///
/// It binds `inproc://zeromq.zap.01` in the context and answers requests on
/// its own thread. Create it before the server sockets accept connections,
/// and ``stop()`` it before terminating the context. A context can have one.
/// Requests for any mechanism other than CURVE are denied (libzmq only asks
/// about NULL-mechanism sockets that set ``SocketOption/zapDomain``).
public final class ZAPHandler: Sendable {
    /// The ZAP endpoint libzmq asks.
    public static let endpoint = "inproc://zeromq.zap.01"

    private let shared: Shared
    private let remote: PollLoop.Remote
    private let thread: BlockingThread

    /// Starts answering authentication requests in `context`.
    /// - Parameters:
    ///   - context: the context whose CURVE servers this handler guards.
    ///   - allowedClientKeys: the Z85 public keys of the admitted clients.
    ///   - domain: if set, requests from sockets with another ZAP domain are denied.
    /// - Throws: `ZMQError`; `EINVAL` for a malformed key, `EADDRINUSE` if the
    ///   context already has a handler.
    public convenience init(context: Context, allowedClientKeys: Set<String>, domain: String? = nil) throws(ZMQError) {
        try self.init(context: context, keys: allowedClientKeys, admitsAnyKey: false, domain: domain)
    }

    /// Starts admitting every CURVE client in `context`, whatever its key.
    ///
    /// Admission is then no stricter than without a handler, but each
    /// connection's user id still tells which key sent a message.
    /// - Parameters:
    ///   - context: the context whose CURVE servers this handler answers for.
    ///   - domain: if set, requests from sockets with another ZAP domain are denied.
    /// - Throws: `ZMQError`; `EADDRINUSE` if the context already has a handler.
    public convenience init(admittingAnyKeyIn context: Context, domain: String? = nil) throws(ZMQError) {
        try self.init(context: context, keys: [], admitsAnyKey: true, domain: domain)
    }

    private init(context: Context, keys: Set<String>, admitsAnyKey: Bool, domain: String?) throws(ZMQError) {
        try Self.validate(keys)
        let socket = try Socket(context, .rep)
        try socket.set(.linger, 0)
        try socket.bind(Self.endpoint)
        let loop = try PollLoop()
        let shared = Shared(keys: keys, admitsAnyKey: admitsAnyKey, domain: domain)
        self.shared = shared
        remote = loop.remote
        thread = BlockingThread(name: "zmq-zap") {
            loop.add(socket) { _ in
                do {
                    while let request = try socket.tryReceive() {
                        try socket.send(shared.reply(to: request))
                    }
                } catch {
                    loop.stop()  // ETERM: the context is going away.
                }
            }
            try? loop.run()
            socket.close()
        }
    }

    deinit {
        stop()
    }

    /// The Z85 public keys of the clients admitted from now on (ignored by
    /// a handler that admits any key).
    public var allowedClientKeys: Set<String> {
        shared.state.withLock { $0.keys }
    }

    /// Replaces the admitted keys; connections already made stay.
    /// - Throws: `ZMQError` `EINVAL` for a malformed key (nothing changes then).
    public func setAllowedClientKeys(_ keys: Set<String>) throws(ZMQError) {
        try Self.validate(keys)
        shared.state.withLock { $0.keys = keys }
    }

    /// How many requests were admitted and denied so far.
    public var counts: (admitted: Int, denied: Int) {
        shared.state.withLock { ($0.admitted, $0.denied) }
    }

    /// Stops the handler thread and closes its socket, waiting for the
    /// thread to finish (it exits at once). Idempotent.
    public func stop() {
        remote.stop()
        thread.join()
    }

    private static func validate(_ keys: Set<String>) throws(ZMQError) {
        for key in keys where !CurveKeyPair.isValidKey(key) {
            throw ZMQError(code: ZMQError.invalidArgument, operation: "ZAPHandler(malformed key \(key))")
        }
    }

    /// The keys and counts the caller's side and the thread share.
    final class Shared: Sendable {
        struct State {
            var keys: Set<String>
            var admitted = 0
            var denied = 0
        }

        let state: Mutex<State>
        let admitsAnyKey: Bool
        let domain: String?

        init(keys: Set<String>, admitsAnyKey: Bool, domain: String?) {
            self.state = Mutex(State(keys: keys))
            self.admitsAnyKey = admitsAnyKey
            self.domain = domain
        }

        /// Builds the reply to one ZAP request (RFC 27): version, request id,
        /// status code, status text, user id, metadata.
        func reply(to request: [[UInt8]]) -> [[UInt8]] {
            let version = Array("1.0".utf8)
            guard request.count >= 6, request[0] == version else {
                return [version, request.count > 1 ? request[1] : [], Array("400".utf8),
                        Array("bad ZAP request".utf8), [], []]
            }
            let requestID = request[1]
            let domain = String(decoding: request[2], as: UTF8.self)
            let mechanism = String(decoding: request[5], as: UTF8.self)
            var clientKey: String?
            if mechanism == "CURVE", request.count >= 7 {
                clientKey = request[6].withUnsafeBytes { CurveKeyPair.z85($0) }
            }
            let admitted = state.withLock { state in
                let keyListed = clientKey.map { admitsAnyKey || state.keys.contains($0) } ?? false
                let domainMatches = self.domain == nil || self.domain == domain
                let ok = keyListed && domainMatches
                if ok { state.admitted += 1 } else { state.denied += 1 }
                return ok
            }
            // The user id is the key: the server reads it from every message of
            // the connection (MessageProperty.userID) to tell clients apart.
            if admitted, let clientKey {
                return [version, requestID, Array("200".utf8), Array("OK".utf8), Array(clientKey.utf8), []]
            }
            return [version, requestID, Array("400".utf8), Array("client key not allowed".utf8), [], []]
        }
    }
}
