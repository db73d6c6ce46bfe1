/// A metadata property of a received message, read with `zmq_msg_gets`.
///
/// libzmq attaches a connection's properties to every message received on
/// it: the security handshake's, and those a ZAP handler returned.
public struct MessageProperty: Hashable, Sendable {
    /// The property's name, as libzmq spells it (case-insensitive).
    public let name: String

    public init(_ name: String) {
        self.name = name
    }

    /// The user id the context's ZAP handler returned when it admitted the
    /// connection; for a ``ZAPHandler``, the client's Z85 public key.
    public static let userID = MessageProperty("User-Id")
    /// The peer's socket type, e.g. `DEALER`.
    public static let socketType = MessageProperty("Socket-Type")
    /// The peer's IP address (TCP connections only).
    public static let peerAddress = MessageProperty("Peer-Address")
}
