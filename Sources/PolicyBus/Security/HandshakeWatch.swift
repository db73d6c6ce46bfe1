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
    /// The most telling failure seen so far.
    private(set) var failure: String?

    /// Starts watching `socket`. Call before `socket.connect`.
    init(_ socket: Socket, context: Context) throws(ZMQError) {
        let endpoint = "inproc://policybus-handshake-\(Self.counter.add(1, ordering: .relaxed).newValue)"
        try socket.monitor(endpoint, events: [.handshakeFailed, .handshakeSucceeded])
        pair = try Socket(context, .pair)
        try pair.set(.linger, 0)
        try pair.connect(endpoint)
    }

    /// Reads the events that arrived; returns the failure, if any.
    @discardableResult
    func poll() -> String? {
        while let frames = try? pair.tryReceive(), let event = MonitorEvent(frames: frames) {
            switch event.event {
            case .handshakeSucceeded:
                failure = nil
            case .handshakeFailedAuth:
                failure = "the node refused this client's key (ZAP status \(event.value)): its public key is not in the node's --authorized-keys"
            case .handshakeFailedProtocol:
                failure = "the CURVE handshake failed: a wrong --server-key, or CURVE on one side only"
            case .handshakeFailedNoDetail:
                failure = "the node dropped the connection during the security handshake (errno \(event.value)): most likely a wrong --server-key"
            default:
                continue
            }
        }
        return failure
    }

    func close() {
        pair.close()
    }
}
