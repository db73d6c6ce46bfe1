import PolicyEngine

/// An error on the bus, with a stable code that goes on the wire.
public struct BusError: Error, Hashable, Sendable {
    /// A stable, machine-readable error code such as `bad-request`.
    ///
    /// A struct rather than an enum so that adding a code does not break users.
    /// The language's codes (`syntax-error`, ...) pass through unchanged.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Wrong number of frames (or an empty frame) in a request.
        public static let badFrames = Code(rawValue: "bad-frames")
        /// The request is not UTF-8 JSON.
        public static let badJSON = Code(rawValue: "bad-json")
        /// The JSON is not an object, or a field is missing or of the wrong type.
        public static let badRequest = Code(rawValue: "bad-request")
        public static let unknownOp = Code(rawValue: "unknown-op")
        public static let badTableName = Code(rawValue: "bad-table-name")
        public static let unknownTable = Code(rawValue: "unknown-table")
        public static let unknownPolicy = Code(rawValue: "unknown-policy")
        /// (engines) `policy-create` or `policy-delete` of a name that is not
        /// an identifier, or (create) the service of one of the engine's peers.
        public static let badPolicyName = Code(rawValue: "bad-policy-name")
        /// (engines) `policy-create` of a policy that exists.
        public static let policyExists = Code(rawValue: "policy-exists")
        /// (engines) `policy-delete` of a policy whose tables another policy's rules read.
        public static let policyInUse = Code(rawValue: "policy-in-use")
        /// (engines) a `facts` write into a table a peer publishes: the peer's
        /// copy is the table, and the next resync would undo the write.
        public static let readOnlyTable = Code(rawValue: "read-only-table")
        public static let tooManySubscriptions = Code(rawValue: "too-many-subscriptions")
        public static let tooManyRows = Code(rawValue: "too-many-rows")
        /// A field over its size limit (`BusLimits`): the `client` id, a
        /// policy name, rule or query text, the columns of a row or pattern.
        public static let tooLarge = Code(rawValue: "too-large")
        /// The reply would be larger than `BusLimits.maxReplyBytes`: ask for a page.
        public static let replyTooLarge = Code(rawValue: "reply-too-large")
        /// The connection has as many requests waiting at the node as it may
        /// (`BusLimits.maxQueuedRequests`): wait for replies before sending more.
        public static let busy = Code(rawValue: "busy")
        /// (engines) a `subscribe` to a table whose peer inputs have not had
        /// their first snapshot within the engine's wait (`--sync-wait-ms`):
        /// ask again later. Its snapshot would be partial.
        public static let notReady = Code(rawValue: "not-ready")
        /// `snapshot-chunk` of a snapshot the node no longer holds (unread
        /// for longer than the lease, or the node restarted): subscribe again.
        public static let snapshotGone = Code(rawValue: "snapshot-gone")
        /// The op exists but this kind of node does not do it.
        public static let notSupported = Code(rawValue: "not-supported")
        public static let `internal` = Code(rawValue: "internal")

        // Key files (``KeyFile``): never sent by a node.
        /// A key file does not hold one 40-character Z85 key.
        public static let badKey = Code(rawValue: "bad-key")
        /// A key file to be written exists already.
        public static let keyExists = Code(rawValue: "key-exists")
        /// A secret key file can be read by group or others.
        public static let keyTooOpen = Code(rawValue: "key-too-open")
        /// A file could not be read or written; the message says why.
        public static let io = Code(rawValue: "io")

        // Client-side only: never sent by a node.
        /// No reply within the client's timeout.
        public static let timeout = Code(rawValue: "timeout")
        /// A socket operation failed.
        public static let transport = Code(rawValue: "transport")
        /// The node's reply did not follow the protocol.
        public static let badReply = Code(rawValue: "bad-reply")
    }

    public var code: Code
    /// What is wrong, for people.
    public var message: String
    /// The language error this carries, with its location and the further
    /// errors of the same text, for a caller that prints each at its file
    /// (`serve` loading its policy files); nil for other errors.
    public var policyError: PolicyError?

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Malformed JSON: `bad-json`, with the line and column.
    public init(_ error: JSONError) {
        self.init(.badJSON, error.message)
    }

    /// Carries a language error's code and message over the bus.
    public init(_ error: PolicyError) {
        self.code = Code(rawValue: error.code.rawValue)
        self.policyError = error
        if let location = error.location {
            self.message = "\(location.policy):\(location.line):\(location.column): \(error.message)"
        } else {
            self.message = error.message
        }
    }
}

extension BusError: CustomStringConvertible {
    public var description: String { "error[\(code)]: \(message)" }
}
