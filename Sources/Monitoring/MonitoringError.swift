/// A failure to start the monitoring listener, with a stable code.
public struct MonitoringError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable code; a struct so that new codes break no one.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The address is not `HOST:PORT`, or the host does not resolve.
        public static let badAddress = Code(rawValue: "bad-address")
        /// `socket`, `bind` or `listen` failed; the message has the errno.
        public static let bindFailed = Code(rawValue: "bind-failed")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "error[\(code)]: \(message)" }
}
