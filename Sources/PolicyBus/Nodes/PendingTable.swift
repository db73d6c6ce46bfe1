import PolicyEngine

/// One table's share of a transaction being applied (`FactsTransaction`).
struct PendingTable {
    let table: TableID
    var added: Set<Row> = []
    var removed: Set<Row> = []
    /// The complete new contents, after a replace.
    var full: Set<Row>?
    /// Whether `added` and `removed` hold `full`'s difference from the published rows.
    var differenced = false
}
