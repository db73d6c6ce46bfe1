extension PolicyError.Code {
    /// A transaction needed more work than its `TransactionBudget`: it was
    /// rolled back whole and the engine is as it was.
    public static let tooExpensive = PolicyError.Code(rawValue: "too-expensive")
}

/// How much one transaction may derive before the engine refuses it
/// (`too-expensive`) and rolls it back whole. Rules that derive without end
/// (`n(y) :- n(x), y = x + 1`), a `concat` that lengthens its strings round
/// after round, or a large cross product then cost bounded work and memory,
/// where they would otherwise hold the engine until memory runs out.
public struct TransactionBudget: Hashable, Sendable {
    /// What ran out.
    public enum Resource: String, Sendable {
        case derivedRows = "derived rows"
        case computedBytes = "bytes of computed strings"
        case time = "milliseconds"
        /// Not a resource: the engine's owner asked it to stop (`Engine.pause`).
        case stopped = "stopped"
    }

    /// Rows the rules may derive: every derivation counts, also one of a row
    /// that is already there, so the count bounds the work as well as the rows.
    public var derivedRows: Int
    /// Bytes of strings that builtins such as `concat` may compute.
    public var computedBytes: Int
    /// Time the rules may take, in milliseconds: bounds joins that scan much
    /// and derive little, which the row count does not see. Read every few
    /// thousand rows scanned, so the bound is that coarse.
    public var milliseconds: Int

    public init(derivedRows: Int = 1_000_000, computedBytes: Int = 64 << 20, milliseconds: Int = 10_000) {
        self.derivedRows = derivedRows
        self.computedBytes = computedBytes
        self.milliseconds = milliseconds
    }

    /// The default for the data a peer publishes (`serve --peer-max-derived-rows`,
    /// `--peer-max-computed-bytes`, `--peer-max-transaction-ms`): ten times a
    /// client request's rows and a minute, as a peer's snapshot is a whole
    /// table, yet bounded: a peer's client may `facts replace` 5,000 rows
    /// into a table that a rule joins with itself (25M rows). Up to about
    /// half a GiB of derived rows, rolled back when over.
    public static let peer = TransactionBudget(derivedRows: 10_000_000, computedBytes: 256 << 20, milliseconds: 60_000)

    /// No bound: for trusted input (policy files at start, a log replay).
    public static let unlimited = TransactionBudget(derivedRows: .max, computedBytes: .max, milliseconds: .max)

    func limit(of resource: Resource) -> Int {
        switch resource {
        case .derivedRows: derivedRows
        case .computedBytes: computedBytes
        case .time: milliseconds
        case .stopped: 0
        }
    }
}
