import Synchronization
import ZeroMQ

/// Watches a client socket's handshake events, so that a request that times
/// out can say why: libzmq retries a failed handshake silently, and without
/// this a refused key and a dead node look the same.
///
/// Owned by the thread that owns the watched socket; not `Sendable`.
final class HandshakeWatch {
    private static let counter = Atomic<Int>(0)

    private let pair: Socket
    private let usesCurve: Bool
    /// The most telling failure seen so far.
    private(set) var failure: String?
    /// Whether the node's allow-list refused this client's key.
    private var refused = false
    /// Whether a handshake completed: a node is there, with the same security.
    private(set) var connected = false

    /// Starts watching `socket`. Call before `socket.connect`.
    /// - Parameter usesCurve: whether the client uses CURVE, which decides
    ///   what a failure most likely means.
    init(_ socket: Socket, context: Context, usesCurve: Bool) throws(ZMQError) {
        self.usesCurve = usesCurve
        let endpoint = "inproc://policybus-handshake-\(Self.counter.add(1, ordering: .relaxed).newValue)"
        try socket.monitor(endpoint, events: [.handshakeFailed, .handshakeSucceeded])
        pair = try Socket(context, .pair)
        try pair.set(.linger, 0)
        try pair.connect(endpoint)
    }

    /// Reads the events that arrived; returns the failure, if any.
    ///
    /// libzmq retries, so one cause can show as several events; a refusal by
    /// the node's allow-list is the most specific and is not overwritten by
    /// the disconnects that follow it.
    @discardableResult
    func poll() -> String? {
        while let frames = try? pair.tryReceive(), let event = MonitorEvent(frames: frames) {
            switch event.event {
            case .handshakeSucceeded:
                failure = nil
                refused = false
                connected = true
            case _ where !usesCurve:
                // Whatever the detail (a mechanism mismatch, or the server hanging up), a
                // plaintext client whose handshake fails is talking to a secured node.
                failure = "the security handshake failed: the node requires CURVE (give --server-key and --client-key)"
            case .handshakeFailedAuth:
                failure = "the node refused this client's key (ZAP status \(event.value)): its public key is not in the node's --authorized-keys"
                refused = true
            case .handshakeFailedProtocol where !refused:
                failure = "the CURVE handshake failed: a wrong --server-key, or CURVE on one side only"
            case .handshakeFailedNoDetail where !refused:
                failure = "the node dropped the connection during the security handshake (errno \(event.value)): most likely a wrong --server-key"
            default:
                continue
            }
        }
        return failure
    }

    /// Why a node did not answer in time, for the timeout's message: the
    /// handshake failure when one happened, and otherwise what the events
    /// show, never a guess at CURVE.
    func noAnswerCause() -> String {
        if let failure = poll() { return failure }
        return connected ? Self.busy : Self.unreachable
    }

    static let busy =
        "the node is connected but did not answer in time: it may be busy with long work; try again, or wait longer (--timeout)"
    static let unreachable =
        "the node did not answer in time, and no connection to it was made: it is down, or nothing listens at this endpoint"

    func close() {
        pair.close()
    }
}
