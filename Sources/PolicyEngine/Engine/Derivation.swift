/// Why a row is in its table: one node of a derivation tree (`Engine.explain`).
public struct Derivation: Hashable, Sendable {
    public enum Reason: Hashable, Sendable {
        /// A fact, or a row of a table no rule derives (a data source's row).
        case fact
        /// Derived by this rule from the rows in `body`.
        case rule(policy: String, text: String, line: Int)
        /// A negated literal held: no row of the table matches `row`, where
        /// `nil` columns are "any value".
        case absent
        /// Not explained: the search stopped at its bound first.
        case bound
    }

    public var table: TableID
    /// The row; `nil` only in the columns of an `absent` pattern that match any value.
    public var row: [Value?]
    public var reason: Reason
    /// For a rule: a derivation of each positive body row and an `absent`
    /// node for each negated literal, in the rule's order.
    public var body: [Derivation]

    public init(table: TableID, row: [Value?], reason: Reason, body: [Derivation] = []) {
        self.table = table
        self.row = row
        self.reason = reason
        self.body = body
    }
}

/// The derivations of one row: one by default, or each rule instance (and
/// the fact) that derives it, up to a limit.
public struct Explanation: Sendable {
    public var table: TableID
    public var row: [Value]
    public var derivations: [Derivation]
    /// False when the search stopped at one of its bounds somewhere.
    public var complete: Bool

    public init(table: TableID, row: [Value], derivations: [Derivation], complete: Bool) {
        self.table = table
        self.row = row
        self.derivations = derivations
        self.complete = complete
    }
}

/// Bounds on the work of one `explain`, so that it cannot stall an engine.
public struct ExplainLimits: Sendable {
    /// Rows examined, over all the rows explained.
    public var rowsVisited: Int
    /// Depth of the tree.
    public var depth: Int
    /// Derivations per row with `all`, and rows per query.
    public var derivations: Int
    /// Time the whole `explain` may take, in milliseconds; nil for no bound.
    /// Over it: `too-expensive`. Read at every row examined and, within one
    /// row's search, every few thousand rows its joins scan
    /// (`TransactionBudget.milliseconds`), so that no row runs long past it.
    public var milliseconds: Int?

    public init(rowsVisited: Int = 10_000, depth: Int = 100, derivations: Int = 20, milliseconds: Int? = nil) {
        self.rowsVisited = rowsVisited
        self.depth = depth
        self.derivations = derivations
        self.milliseconds = milliseconds
    }
}

// MARK: - Text

extension Derivation {
    /// The tree as indented lines: each row with how it holds, its body below it.
    public var text: String { rendered(indent: 0) }

    func rendered(indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        let values = row.map { $0?.description ?? "_" }.joined(separator: ", ")
        let atom = row.isEmpty ? "\(table)" : "\(table)(\(values))"
        var out: String
        switch reason {
        case .fact: out = pad + atom + "  [fact]\n"
        case .absent: out = pad + "absent: " + atom + "\n"
        case .bound: out = pad + atom + "  [not explained: the search reached its bound]\n"
        case .rule(let policy, let text, let line): out = pad + atom + "  by \(policy):\(line): \(text)\n"
        }
        for child in body { out += child.rendered(indent: indent + 2) }
        return out
    }
}

extension Explanation {
    /// Each derivation as an indented tree; numbered when there are several.
    public var text: String {
        var out = ""
        for (index, derivation) in derivations.enumerated() {
            if derivations.count > 1 { out += "derivation \(index + 1) of \(derivations.count):\n" }
            out += derivation.rendered(indent: derivations.count > 1 ? 2 : 0)
        }
        if !complete { out += "(incomplete: the search stopped at its bound)\n" }
        return out
    }
}
