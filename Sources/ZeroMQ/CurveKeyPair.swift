internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A CURVE long-term key pair, both keys in Z85 text (40 characters).
public struct CurveKeyPair: Sendable, Hashable {
    /// The public key: give it to peers (a client needs the server's).
    public let publicKey: String
    /// The secret key: keep it private.
    public let secretKey: String

    /// Wraps existing keys.
    /// - Throws: `ZMQError` `EINVAL` unless both are valid Z85 keys and the
    ///   public key belongs to the secret key.
    public init(publicKey: String, secretKey: String) throws(ZMQError) {
        let derived = try Self.publicKey(forSecretKey: secretKey)
        guard derived == publicKey else {
            throw ZMQError(code: EINVAL, operation: "CurveKeyPair(public key does not match secret key)")
        }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    private init(unchecked publicKey: String, _ secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Whether this libzmq was built with CURVE support.
    public static var isAvailable: Bool {
        zmq_has("curve") != 0
    }

    /// Generates a fresh key pair (`zmq_curve_keypair`).
    /// - Throws: `ZMQError` `ENOTSUP` if libzmq has no CURVE support.
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else {
            throw ZMQError.last("zmq_curve_keypair")
        }
        return CurveKeyPair(unchecked: string(publicKey), string(secretKey))
    }

    /// Derives the public key of a Z85 secret key (`zmq_curve_public`).
    /// - Throws: `ZMQError` `EINVAL` if `secretKey` is not a 40-character Z85 key.
    public static func publicKey(forSecretKey secretKey: String) throws(ZMQError) -> String {
        guard isValidKey(secretKey) else {
            throw ZMQError(code: EINVAL, operation: "zmq_curve_public(malformed key)")
        }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else {
            throw ZMQError.last("zmq_curve_public")
        }
        return string(publicKey)
    }

    /// Whether `key` is a 40-character Z85 encoding of a 32-byte key.
    public static func isValidKey(_ key: String) -> Bool {
        guard key.utf8.count == 40 else { return false }
        var bytes = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&bytes, key) != nil
    }

    /// Encodes a raw 32-byte key as Z85.
    static func z85(_ key: UnsafeRawBufferPointer) -> String? {
        guard key.count == 32, let base = key.baseAddress else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, base.assumingMemoryBound(to: UInt8.self), 32) != nil else { return nil }
        return string(text)
    }

    private static func string(_ chars: [CChar]) -> String {
        chars.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

// MARK: - Configuring sockets

extension Socket {
    /// Makes this socket a CURVE server with the given keys. Set it before
    /// `bind`. With a ``ZAPHandler`` on the context, only the client keys it
    /// lists are admitted; without one, any client that knows the server's
    /// public key is.
    public func makeCurveServer(_ keys: CurveKeyPair) throws(ZMQError) {
        try set(.curveServer, true)
        try set(.curveSecretKey, keys.secretKey)
        try set(.curvePublicKey, keys.publicKey)
    }

    /// Makes this socket a CURVE client of the server with public key
    /// `serverKey`. Set it before `connect`.
    /// - Parameters:
    ///   - serverKey: the server's public key, Z85.
    ///   - keys: this client's own key pair.
    public func makeCurveClient(serverKey: String, keys: CurveKeyPair) throws(ZMQError) {
        try set(.curveServerKey, serverKey)
        try set(.curvePublicKey, keys.publicKey)
        try set(.curveSecretKey, keys.secretKey)
    }
}
