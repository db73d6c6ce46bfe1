internal import CZeroMQ

/// Readiness a ``Poller`` waits for or reports.
public struct PollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// A message can be received (or a plain fd is readable).
    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent (or a plain fd is writable).
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
    /// An error condition on a plain fd (reported even when not asked for).
    public static let error = PollEvents(rawValue: Int16(ZMQ_POLLERR))
}
