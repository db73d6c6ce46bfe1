/// A batch of changes applied all-or-nothing by `Engine.apply(_:)`.
///
/// Operations take effect in order: inserting a row and then deleting it is a
/// no-op; `replace` sets a table's facts to exactly the given rows.
public struct Transaction: Sendable {
    enum Operation: Sendable {
        case insertRow(TableID, [Value])
        case deleteRow(TableID, [Value])
        case replace(TableID, [[Value]])
        case replaceWithSet(TableID, Set<[Value]>)
        case insertRules(String, policy: String)
        case deleteRules(String, policy: String)
        case insertRule(CheckedRule)
        case deleteRule(RuleKey)
    }

    var operations: [Operation] = []

    public init() {}

    /// Whether the transaction holds no operation.
    public var isEmpty: Bool { operations.isEmpty }

    /// Inserts a fact row. A table whose service is not a policy is a base (data source) table.
    public mutating func insert(_ row: [Value], into table: TableID) {
        operations.append(.insertRow(table, row))
    }

    /// Deletes a fact row. Deleting a row that is not a fact does nothing (derived rows stay).
    public mutating func delete(_ row: [Value], from table: TableID) {
        operations.append(.deleteRow(table, row))
    }

    /// Makes `rows` the table's facts; the engine computes the difference.
    public mutating func replace(_ table: TableID, with rows: [[Value]]) {
        operations.append(.replace(table, rows))
    }

    /// Makes `rows` the table's facts, like `replace(_:with:)` with an
    /// array, without one: a peer's snapshot of a million rows is held as
    /// a set, and an array of it would copy (and later release) every row
    /// in one step.
    public mutating func replace(_ table: TableID, with rows: Set<[Value]>) {
        operations.append(.replaceWithSet(table, rows))
    }

    /// Inserts the rules and facts written in `text` into `policy`.
    public mutating func insertRules(_ text: String, policy: String) {
        operations.append(.insertRules(text, policy: policy))
    }

    /// Deletes the rules written in `text` from `policy` (matched by canonical
    /// text), and the facts written in it.
    public mutating func deleteRules(_ text: String, policy: String) {
        operations.append(.deleteRules(text, policy: policy))
    }

    /// Inserts an already checked rule (for callers with their own front end, and tests).
    mutating func insert(rule: CheckedRule) {
        operations.append(.insertRule(rule))
    }

    /// Deletes a rule by policy and canonical text.
    mutating func deleteRule(policy: String, text: String) {
        operations.append(.deleteRule(RuleKey(policy: policy, text: text)))
    }
}

/// A table's net change in one transaction. A row is never in both lists. The
/// order of rows is unspecified (sorting a million-row delta would cost more than
/// computing it); use `sorted()` when order matters.
public struct TableDelta: Sendable, Hashable {
    public var table: TableID
    public var added: [[Value]]
    public var removed: [[Value]]

    public init(table: TableID, added: [[Value]], removed: [[Value]]) {
        self.table = table
        self.added = added
        self.removed = removed
    }

    /// The same delta with both lists sorted.
    public func sorted() -> TableDelta {
        TableDelta(table: table, added: added.sorted(by: rowPrecedes), removed: removed.sorted(by: rowPrecedes))
    }
}

/// Identifies a registered trigger.
public struct TriggerID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static func < (lhs: TriggerID, rhs: TriggerID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "trigger-\(rawValue)" }
}

/// Rows sort lexicographically by `Value`'s order.
func rowPrecedes(_ lhs: [Value], _ rhs: [Value]) -> Bool {
    for (a, b) in zip(lhs, rhs) where a != b { return a < b }
    return lhs.count < rhs.count
}
