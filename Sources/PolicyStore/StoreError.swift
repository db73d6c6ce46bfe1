/// A failure of the durable log, with a stable code.
public struct StoreError: Error, Hashable, Sendable {
    /// A stable, machine-readable error code.
    ///
    /// A struct rather than an enum so that adding a code does not break users.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A system call failed; `errno` says why.
        public static let io = Code(rawValue: "io")
        /// Another process holds the data directory.
        public static let locked = Code(rawValue: "locked")
        /// The log file does not start with the PolicyBus log header.
        public static let notALog = Code(rawValue: "not-a-log")
        /// A record is larger than ``DurableLog/maxRecordSize``.
        public static let recordTooLarge = Code(rawValue: "record-too-large")
        /// The log was closed, or an earlier write or fsync failed and the
        /// state of the file is unknown. Reopen the directory to recover.
        public static let unusable = Code(rawValue: "unusable")
        /// A record's payload is not a record this version reads.
        public static let badRecord = Code(rawValue: "bad-record")
    }

    public var code: Code
    /// What went wrong, naming the file and the operation.
    public var message: String
    /// The `errno` of the failed system call, for ``Code/io``.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }
}

extension StoreError: CustomStringConvertible {
    public var description: String { "error[\(code)]: \(message)" }
}
