internal import CZeroMQ

/// Connection events a socket monitor reports (`zmq_socket_monitor`).
public struct MonitorEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let connected = MonitorEvents(rawValue: ZMQ_EVENT_CONNECTED)
    public static let connectDelayed = MonitorEvents(rawValue: ZMQ_EVENT_CONNECT_DELAYED)
    public static let connectRetried = MonitorEvents(rawValue: ZMQ_EVENT_CONNECT_RETRIED)
    public static let listening = MonitorEvents(rawValue: ZMQ_EVENT_LISTENING)
    public static let bindFailed = MonitorEvents(rawValue: ZMQ_EVENT_BIND_FAILED)
    public static let accepted = MonitorEvents(rawValue: ZMQ_EVENT_ACCEPTED)
    public static let acceptFailed = MonitorEvents(rawValue: ZMQ_EVENT_ACCEPT_FAILED)
    public static let closed = MonitorEvents(rawValue: ZMQ_EVENT_CLOSED)
    public static let closeFailed = MonitorEvents(rawValue: ZMQ_EVENT_CLOSE_FAILED)
    /// The peer went away, or was dropped (e.g. for exceeding MAXMSGSIZE).
    public static let disconnected = MonitorEvents(rawValue: ZMQ_EVENT_DISCONNECTED)
    public static let monitorStopped = MonitorEvents(rawValue: ZMQ_EVENT_MONITOR_STOPPED)
    public static let handshakeFailedNoDetail = MonitorEvents(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    public static let handshakeSucceeded = MonitorEvents(rawValue: ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
    /// The ZMTP or security handshake was malformed (e.g. a wrong CURVE server key).
    public static let handshakeFailedProtocol = MonitorEvents(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
    /// The ZAP handler refused the peer (e.g. an unlisted CURVE client key).
    public static let handshakeFailedAuth = MonitorEvents(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

    /// Any failed handshake.
    public static let handshakeFailed: MonitorEvents = [.handshakeFailedNoDetail, .handshakeFailedProtocol, .handshakeFailedAuth]
    /// Every event.
    public static let all = MonitorEvents(rawValue: ZMQ_EVENT_ALL)
}

/// One event read from a monitor socket.
public struct MonitorEvent: Sendable, Hashable {
    /// The event (a single flag).
    public let event: MonitorEvents
    /// The event's value: an fd, an errno, a retry interval or a ZAP status, by event.
    public let value: UInt32
    /// The endpoint the event is about.
    public let endpoint: String

    /// Parses a message received on a PAIR connected to a monitor endpoint.
    /// - Returns: nil if the frames are not a monitor event.
    public init?(frames: [[UInt8]]) {
        guard frames.count == 2, frames[0].count == 6 else { return nil }
        // libzmq writes both numbers in native byte order.
        let (event, value) = frames[0].withUnsafeBytes { head in
            (head.loadUnaligned(as: UInt16.self), head.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        }
        self.event = MonitorEvents(rawValue: Int32(event))
        self.value = value
        self.endpoint = String(decoding: frames[1], as: UTF8.self)
    }
}

extension Socket {
    /// Publishes this socket's connection events on the inproc `endpoint`;
    /// connect a `.pair` socket there and parse its messages with
    /// ``MonitorEvent/init(frames:)``. Call it before bind or connect so no
    /// event is missed.
    /// - Parameters:
    ///   - endpoint: an `inproc://` endpoint.
    ///   - events: which events to report.
    public func monitor(_ endpoint: String, events: MonitorEvents = .all) throws(ZMQError) {
        let handle = try liveHandle("zmq_socket_monitor(\(endpoint))")
        _ = try retryingEINTR("zmq_socket_monitor(\(endpoint))") {
            zmq_socket_monitor(handle, endpoint, events.rawValue)
        }
    }

    /// Stops monitoring started by ``monitor(_:events:)``.
    public func stopMonitor() throws(ZMQError) {
        let handle = try liveHandle("zmq_socket_monitor(stop)")
        _ = try retryingEINTR("zmq_socket_monitor(stop)") { zmq_socket_monitor(handle, nil, 0) }
    }
}
