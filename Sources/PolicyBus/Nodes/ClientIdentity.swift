/// Who holds subscriptions at a node: the `client` string a request carries,
/// scoped to the CURVE key that sent it when the node knows that key.
///
/// A node knows the key when its ZAP handler admitted the connection (the
/// key is the connection's user id). Two keys that send the same `client`
/// string are then two clients, so no client can renew, unsubscribe or
/// count against another key's subscriptions. In plaintext mode (and CURVE
/// without a ZAP handler) the key is nil and the string alone identifies the
/// client, as the clients choose it.
public struct ClientIdentity: Hashable, Sendable {
    /// The `client` string of the request (or the id derived from the
    /// connection's routing id when it had none).
    public var id: String
    /// The client's Z85 public key, or nil if the node does not know it.
    public var key: String?

    public init(_ id: String, key: String? = nil) {
        self.id = id
        self.key = key
    }
}

extension ClientIdentity: Comparable {
    /// By id, then key: `status` lists the clients in this order.
    public static func < (lhs: ClientIdentity, rhs: ClientIdentity) -> Bool {
        (lhs.id, lhs.key ?? "") < (rhs.id, rhs.key ?? "")
    }
}

extension ClientIdentity: CustomStringConvertible {
    /// The id, with the key's first 8 characters when there is one: enough
    /// to tell clients apart in a log line.
    public var description: String {
        guard let key else { return id }
        return "\(id)@\(key.prefix(8))"
    }
}
