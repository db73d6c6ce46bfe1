internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libzmq call: the errno it reported, libzmq's text for it, and the
/// operation that failed.
public struct ZMQError: Error, Sendable, Hashable {
    /// The errno value (`EAGAIN`, `ETERM`, `EHOSTUNREACH`, ...).
    public let code: Int32
    /// libzmq's description of `code` (`zmq_strerror`).
    public let message: String
    /// The call that failed, e.g. `"zmq_bind(tcp://127.0.0.1:*)"`.
    public let operation: String

    /// Creates an error for `code`, looking up libzmq's text for it.
    /// - Parameters:
    ///   - code: the errno value.
    ///   - operation: what was being done.
    public init(code: Int32, operation: String) {
        self.code = code
        self.message = String(cString: zmq_strerror(code))
        self.operation = operation
    }

    /// Reads `zmq_errno()` at once, before anything else can overwrite it.
    static func last(_ operation: @autoclosure () -> String) -> ZMQError {
        let code = zmq_errno()
        return ZMQError(code: code, operation: operation())
    }

    // MARK: - Well-known codes

    /// `EAGAIN`: a non-blocking call would block, or a timeout expired.
    public static let wouldBlock: Int32 = EAGAIN
    /// `ETERM`: the context was terminated or shut down.
    public static let terminated: Int32 = czmq_ETERM
    /// `EHOSTUNREACH`: a ROUTER with ROUTER_MANDATORY has no peer with that id.
    public static let hostUnreachable: Int32 = EHOSTUNREACH
    /// `ENOTSOCK`: the socket was closed.
    public static let notSocket: Int32 = ENOTSOCK
    /// `EFSM`: the operation is not valid in the socket's state (e.g. REQ sending twice).
    public static let invalidState: Int32 = czmq_EFSM
    /// `EINVAL`: a bad argument, e.g. a malformed endpoint or key.
    public static let invalidArgument: Int32 = EINVAL

    /// True for `EAGAIN`: a non-blocking call would block or a timeout expired.
    public var isWouldBlock: Bool { code == EAGAIN }
    /// True for `ETERM`: the context is shutting down, so the caller should close its socket.
    public var isTerminated: Bool { code == czmq_ETERM }
}

extension ZMQError: CustomStringConvertible {
    public var description: String {
        "\(operation) failed: \(message) (errno \(code))"
    }
}

/// Runs a libzmq call that returns -1 on failure, retrying `EINTR`.
/// - Returns: the call's non-negative result.
@inline(__always)
func retryingEINTR(
    _ operation: @autoclosure () -> String,
    _ call: () -> Int32
) throws(ZMQError) -> Int32 {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = zmq_errno()
        if code == EINTR { continue }
        throw ZMQError(code: code, operation: operation())
    }
}
