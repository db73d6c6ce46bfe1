import PolicyEngine

/// One change to a data source's tables. Table names are unqualified.
public enum FactChange: Hashable, Sendable {
    case insert(table: String, row: Row)
    case delete(table: String, row: Row)
    /// A full-table update; the publisher turns it into a delta.
    case replace(table: String, rows: [Row])

    public var table: String {
        switch self {
        case .insert(let table, _), .delete(let table, _), .replace(let table, _): table
        }
    }

    /// How many rows the change names.
    public var rowCount: Int {
        switch self {
        case .insert, .delete: 1
        case .replace(_, let rows): rows.count
        }
    }
}
