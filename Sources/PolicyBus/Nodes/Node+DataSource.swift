import PolicyEngine
import ZeroMQ

extension Node {
    /// Creates a data source node. Call `run()` on the same thread.
    /// - Parameters:
    ///   - options: name and endpoints.
    ///   - tables: initial facts, by unqualified table name.
    ///   - schema: column names, by unqualified table name.
    ///   - context: the ZeroMQ context.
    /// - Throws: `BusError` for a bind failure or bad facts.
    public static func dataSource(
        _ options: NodeOptions, tables: [String: [Row]] = [:], schema: [String: [String]] = [:], context: Context
    ) throws(BusError) -> Node {
        try Node(options: options, context: context) { nodeContext throws(BusError) in
            let behavior = DataSourceBehavior(schema: schema, context: nodeContext)
            for name in Set(schema.keys).union(tables.keys).sorted() {
                behavior.open(try behavior.table(name))
            }
            try behavior.apply(tables.map { .replace(table: $0.key, rows: $0.value) }, rowLimit: .max)
            return behavior
        }
    }

    /// Counts fact rows the node's owner refused before they reached the
    /// node (a stdin line that does not parse), as rejected facts.
    public func countRejectedFacts(_ rows: Int) {
        monitor.facts(rejected: rows)
    }

    /// Applies one transaction of fact changes on a data source.
    /// - Throws: `not-supported` on an engine; `arity-mismatch`, `bad-table-name`.
    public func applyFacts(_ changes: [FactChange]) throws(BusError) {
        try behavior.apply(changes)
    }
}
