import PolicyEngine

/// How an engine node starts.
public struct EngineSetup: Sendable {
    /// Policy name to policy text, loaded at start (after peers' columns are known).
    public var policies: [(name: String, text: String)] = []
    /// Where accepted rule and fact changes are kept (`DurableLog`); nil keeps
    /// them in memory only.
    public var dataDirectory: String?
    /// Compact the data log at start when it holds more records than this.
    public var compactLogAbove = 10_000
    /// Service name to the control endpoint of the node that serves it.
    public var peers: [String: String] = [:]
    /// CURVE settings per peer service; a peer not listed is plaintext.
    public var peerCurve: [String: CurveClientConfiguration] = [:]
    /// How long to keep asking peers for their tables' columns at start.
    public var peerStartupMilliseconds = 5000
    /// How long a `subscribe` to a table waits for the first snapshot of the
    /// peer tables it reads before the reply is `not-ready`.
    public var syncWaitMilliseconds = 10_000
    /// What one transaction of peers' data may derive (`EngineBehavior+PeerBudget.swift`).
    public var peerBudget = TransactionBudget.peer

    public init(policies: [(name: String, text: String)] = [], peers: [String: String] = [:]) {
        self.policies = policies
        self.peers = peers
    }
}
