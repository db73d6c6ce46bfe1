internal import CZeroMQ

/// A typed socket option: the libzmq option number plus how its value is
/// passed. Use the predefined options, e.g. `socket.set(.linger, 0)` or
/// `try socket.get(.receiveHighWaterMark)`.
public struct SocketOption<Value>: Sendable {
    /// The `ZMQ_*` option number.
    public let code: Int32
    /// The libzmq name, for error messages.
    public let name: String
    let write: @Sendable (UnsafeMutableRawPointer, Int32, Value) -> Int32
    let read: @Sendable (UnsafeMutableRawPointer, Int32) -> Value?
}

// MARK: - Value kinds

extension SocketOption where Value == Int32 {
    static func int32(_ code: Int32, _ name: String) -> Self {
        Self(
            code: code, name: name,
            write: { handle, code, value in
                var value = value
                return zmq_setsockopt(handle, code, &value, MemoryLayout<Int32>.size)
            },
            read: { handle, code in
                var value: Int32 = 0
                var size = MemoryLayout<Int32>.size
                return zmq_getsockopt(handle, code, &value, &size) == 0 ? value : nil
            })
    }
}

extension SocketOption where Value == Int64 {
    static func int64(_ code: Int32, _ name: String) -> Self {
        Self(
            code: code, name: name,
            write: { handle, code, value in
                var value = value
                return zmq_setsockopt(handle, code, &value, MemoryLayout<Int64>.size)
            },
            read: { handle, code in
                var value: Int64 = 0
                var size = MemoryLayout<Int64>.size
                return zmq_getsockopt(handle, code, &value, &size) == 0 ? value : nil
            })
    }
}

extension SocketOption where Value == Bool {
    static func bool(_ code: Int32, _ name: String) -> Self {
        Self(
            code: code, name: name,
            write: { handle, code, value in
                var value: Int32 = value ? 1 : 0
                return zmq_setsockopt(handle, code, &value, MemoryLayout<Int32>.size)
            },
            read: { handle, code in
                var value: Int32 = 0
                var size = MemoryLayout<Int32>.size
                return zmq_getsockopt(handle, code, &value, &size) == 0 ? value != 0 : nil
            })
    }
}

extension SocketOption where Value == [UInt8] {
    static func bytes(_ code: Int32, _ name: String) -> Self {
        Self(
            code: code, name: name,
            write: { handle, code, value in
                value.withUnsafeBytes { zmq_setsockopt(handle, code, $0.baseAddress, $0.count) }
            },
            read: { handle, code in
                var buffer = [UInt8](repeating: 0, count: 256)
                var size = buffer.count
                guard zmq_getsockopt(handle, code, &buffer, &size) == 0 else { return nil }
                return Array(buffer[..<size])
            })
    }
}

extension SocketOption where Value == String {
    static func string(_ code: Int32, _ name: String) -> Self {
        Self(
            code: code, name: name,
            write: { handle, code, value in
                var value = value
                return value.withUTF8 { zmq_setsockopt(handle, code, $0.baseAddress, $0.count) }
            },
            read: { handle, code in
                var buffer = [UInt8](repeating: 0, count: 1024)
                var size = buffer.count
                guard zmq_getsockopt(handle, code, &buffer, &size) == 0 else { return nil }
                // libzmq counts the terminating NUL in `size`.
                let end = buffer[..<size].firstIndex(of: 0) ?? size
                return String(decoding: buffer[..<end], as: UTF8.self)
            })
    }
}

extension SocketOption where Value == String {
    /// A CURVE key: written as Z85 text, read back as Z85 (libzmq picks the
    /// format from the buffer size, 41 bytes for Z85 plus NUL).
    static func z85Key(_ code: Int32, _ name: String) -> Self {
        let text = string(code, name)
        return Self(
            code: code, name: name,
            write: text.write,
            read: { handle, code in
                var buffer = [CChar](repeating: 0, count: 41)
                var size = buffer.count
                guard zmq_getsockopt(handle, code, &buffer, &size) == 0 else { return nil }
                return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            })
    }
}

// MARK: - Reading and writing

extension Socket {
    /// Sets a socket option.
    /// - Throws: `ZMQError`, e.g. `EINVAL` for a bad value.
    public func set<T>(_ option: SocketOption<T>, _ value: T) throws(ZMQError) {
        let handle = try liveHandle("zmq_setsockopt(\(option.name))")
        _ = try retryingEINTR("zmq_setsockopt(\(option.name))") {
            option.write(handle, option.code, value)
        }
    }

    /// Reads a socket option.
    /// - Throws: `ZMQError`, e.g. `EINVAL` for a write-only option.
    public func get<T>(_ option: SocketOption<T>) throws(ZMQError) -> T {
        let handle = try liveHandle("zmq_getsockopt(\(option.name))")
        while true {
            if let value = option.read(handle, option.code) { return value }
            let error = ZMQError.last("zmq_getsockopt(\(option.name))")
            if error.code != EINTR { throw error }
        }
    }

    /// Subscribes a SUB socket to messages whose first frame starts with
    /// `prefix`. Prefix matching means `"a:b"` also matches `"a:bc"`; end a
    /// topic with a separator to match it exactly.
    public func subscribe(_ prefix: String) throws(ZMQError) {
        try set(.subscribe, Array(prefix.utf8))
    }

    /// Removes one earlier ``subscribe(_:)`` of the same prefix.
    public func unsubscribe(_ prefix: String) throws(ZMQError) {
        try set(.unsubscribe, Array(prefix.utf8))
    }
}

// MARK: - Predefined options

extension SocketOption where Value == Int32 {
    /// ZMQ_SNDHWM: how many outgoing messages are queued per peer before a
    /// PUB drops and other kinds block (default 1000; 0 means no limit).
    public static var sendHighWaterMark: Self { .int32(ZMQ_SNDHWM, "ZMQ_SNDHWM") }
    /// ZMQ_RCVHWM: how many incoming messages are queued per peer.
    public static var receiveHighWaterMark: Self { .int32(ZMQ_RCVHWM, "ZMQ_RCVHWM") }
    /// ZMQ_LINGER: milliseconds that unsent messages outlive `close` (-1 forever).
    public static var linger: Self { .int32(ZMQ_LINGER, "ZMQ_LINGER") }
    /// ZMQ_RCVTIMEO: milliseconds a blocking receive waits before `EAGAIN` (-1 forever).
    public static var receiveTimeout: Self { .int32(ZMQ_RCVTIMEO, "ZMQ_RCVTIMEO") }
    /// ZMQ_SNDTIMEO: milliseconds a blocking send waits before `EAGAIN` (-1 forever).
    public static var sendTimeout: Self { .int32(ZMQ_SNDTIMEO, "ZMQ_SNDTIMEO") }
    /// ZMQ_HEARTBEAT_IVL: milliseconds between ZMTP heartbeats (0 disables).
    public static var heartbeatInterval: Self { .int32(ZMQ_HEARTBEAT_IVL, "ZMQ_HEARTBEAT_IVL") }
    /// ZMQ_HEARTBEAT_TIMEOUT: milliseconds without traffic after a heartbeat before the peer is dropped.
    public static var heartbeatTimeout: Self { .int32(ZMQ_HEARTBEAT_TIMEOUT, "ZMQ_HEARTBEAT_TIMEOUT") }
    /// ZMQ_HEARTBEAT_TTL: milliseconds the remote peer waits without traffic before dropping us.
    public static var heartbeatTTL: Self { .int32(ZMQ_HEARTBEAT_TTL, "ZMQ_HEARTBEAT_TTL") }
    /// ZMQ_RECONNECT_IVL: milliseconds before reconnecting (-1 never).
    public static var reconnectInterval: Self { .int32(ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL") }
    /// ZMQ_RECONNECT_IVL_MAX: upper bound of the exponential reconnect backoff (0 disables it).
    public static var reconnectIntervalMax: Self { .int32(ZMQ_RECONNECT_IVL_MAX, "ZMQ_RECONNECT_IVL_MAX") }
    /// ZMQ_HANDSHAKE_IVL: milliseconds allowed for the ZMTP (and CURVE) handshake.
    public static var handshakeInterval: Self { .int32(ZMQ_HANDSHAKE_IVL, "ZMQ_HANDSHAKE_IVL") }
    /// ZMQ_FD (read-only): see ``Socket/fileDescriptor``.
    public static var fileDescriptor: Self { .int32(ZMQ_FD, "ZMQ_FD") }
    /// ZMQ_EVENTS (read-only): see ``Socket/events``.
    public static var events: Self { .int32(ZMQ_EVENTS, "ZMQ_EVENTS") }
}

extension SocketOption where Value == Int64 {
    /// ZMQ_MAXMSGSIZE: the largest message, in bytes, a peer may send; a peer
    /// that sends more is disconnected (-1 means no limit).
    public static var maxMessageSize: Self { .int64(ZMQ_MAXMSGSIZE, "ZMQ_MAXMSGSIZE") }
}

extension SocketOption where Value == Bool {
    /// ZMQ_ROUTER_MANDATORY: a ROUTER fails with `EHOSTUNREACH` for an unknown
    /// routing id instead of dropping the message silently.
    public static var routerMandatory: Self { .bool(ZMQ_ROUTER_MANDATORY, "ZMQ_ROUTER_MANDATORY") }
    /// ZMQ_XPUB_VERBOSE: an XPUB passes on duplicate subscriptions too.
    public static var xpubVerbose: Self { .bool(ZMQ_XPUB_VERBOSE, "ZMQ_XPUB_VERBOSE") }
    /// ZMQ_XPUB_VERBOSER: an XPUB passes on duplicate subscriptions and unsubscriptions.
    public static var xpubVerboser: Self { .bool(ZMQ_XPUB_VERBOSER, "ZMQ_XPUB_VERBOSER") }
    /// ZMQ_IMMEDIATE: queue messages only to completed connections.
    public static var immediate: Self { .bool(ZMQ_IMMEDIATE, "ZMQ_IMMEDIATE") }
    /// ZMQ_CURVE_SERVER: this socket is the CURVE server (set ``curveSecretKey`` too).
    public static var curveServer: Self { .bool(ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER") }
    /// ZMQ_IPV6: enable IPv6 on tcp endpoints.
    public static var ipv6: Self { .bool(ZMQ_IPV6, "ZMQ_IPV6") }
    /// ZMQ_CONFLATE: keep only the last message (single-frame messages only).
    public static var conflate: Self { .bool(ZMQ_CONFLATE, "ZMQ_CONFLATE") }
}

extension SocketOption where Value == [UInt8] {
    /// ZMQ_ROUTING_ID: this socket's id as a ROUTER peer sees it (1...255 bytes, not starting with 0).
    public static var routingID: Self { .bytes(ZMQ_ROUTING_ID, "ZMQ_ROUTING_ID") }
    /// ZMQ_SUBSCRIBE (write-only): add a prefix filter on a SUB; empty subscribes to all.
    public static var subscribe: Self { .bytes(ZMQ_SUBSCRIBE, "ZMQ_SUBSCRIBE") }
    /// ZMQ_UNSUBSCRIBE (write-only): remove one earlier subscription of the same prefix.
    public static var unsubscribe: Self { .bytes(ZMQ_UNSUBSCRIBE, "ZMQ_UNSUBSCRIBE") }
}

extension SocketOption where Value == String {
    /// ZMQ_CURVE_PUBLICKEY: this socket's long-term public key, Z85 (40 chars).
    public static var curvePublicKey: Self { .z85Key(ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY") }
    /// ZMQ_CURVE_SECRETKEY: this socket's long-term secret key, Z85 (40 chars).
    public static var curveSecretKey: Self { .z85Key(ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY") }
    /// ZMQ_CURVE_SERVERKEY: on a client, the server's public key, Z85; setting it makes the socket a CURVE client.
    public static var curveServerKey: Self { .z85Key(ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY") }
    /// ZMQ_ZAP_DOMAIN: the ZAP domain passed to the ZAP handler.
    public static var zapDomain: Self { .string(ZMQ_ZAP_DOMAIN, "ZMQ_ZAP_DOMAIN") }
    /// ZMQ_LAST_ENDPOINT (read-only): see ``Socket/lastEndpoint``.
    public static var lastEndpoint: Self { .string(ZMQ_LAST_ENDPOINT, "ZMQ_LAST_ENDPOINT") }
}
