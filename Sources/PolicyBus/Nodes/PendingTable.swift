import PolicyEngine

/// One table's share of a transaction being applied (`DataSourceBehavior.apply`).
struct PendingTable {
    let table: TableID
    var added: Set<Row> = []
    var removed: Set<Row> = []
    /// The complete new contents, after a replace.
    var full: Set<Row>?
}
