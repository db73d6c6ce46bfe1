import PolicyEngine
import ZeroMQ

/// A data source: serves tables of facts under `NAME:table`.
///
/// Every table it has had rows in, or a schema for, is published (with
/// heartbeats) whether or not anyone subscribes; subscribing to a table it
/// does not have yet opens it empty, until its last subscriber goes (so client
/// input cannot grow the node without bound). Changes come from `apply(_:)`
/// (stdin in the CLI) or the `facts` op.
final class DataSourceBehavior: NodeBehavior {
    let kind = "datasource"
    let schema: [String: [String]]
    var sockets: [Socket] { [] }
    /// Tables opened only because a client subscribed: closed again when the
    /// last subscriber goes while they are still empty. Writing makes a table the source's own.
    var openedBySubscribe: Set<TableID> = []

    init(schema: [String: [String]]) {
        self.schema = schema
    }

    func table(_ name: String, node: Node) throws(BusError) -> TableID {
        guard TableID.isIdentifier(name) else { throw BusError(.badTableName, "'\(name)' is not a table name") }
        return TableID(service: node.options.name, name: name)
    }

    func validate(_ table: TableID, node: Node) throws(BusError) {
        guard table.service == node.options.name else {
            throw BusError(.unknownTable, "this data source serves \(node.options.name):*, not \(table)")
        }
    }

    func open(_ table: TableID, node: Node) {
        guard !node.publisher.isOpen(table) else { return }
        node.publisher.open(table, columns: schema[table.name])
        if schema[table.name] == nil { openedBySubscribe.insert(table) }
    }

    func close(_ table: TableID, node: Node) {
        guard openedBySubscribe.contains(table), node.publisher.snapshot(table)?.rows.isEmpty ?? true else { return }
        openedBySubscribe.remove(table)
        node.publisher.close(table)
    }

    /// Checks a row against the table's declared arity, else the arity the
    /// transaction's earlier rows set (`batch`), else the published rows'.
    /// Without `batch`, an empty table would accept rows of any arity.
    func checkArity(_ row: Row, table: TableID, node: Node, batch: inout [TableID: Int]) throws(BusError) {
        let expected = schema[table.name]?.count ?? batch[table] ?? node.publisher.snapshot(table)?.rows.first?.count
        if let expected, expected != row.count {
            throw BusError(BusError.Code(rawValue: "arity-mismatch"), "\(table) has \(expected) columns; the row has \(row.count)")
        }
        batch[table] = row.count
    }

    /// Applies one transaction: each table it touches gets one delta.
    /// All-or-nothing: a bad row rejects the whole transaction. Inserts and
    /// deletes cost in proportion to the rows they touch, not the table's size.
    func apply(_ changes: [FactChange], node: Node) throws(BusError) {
        // Per table, in order of first mention: net rows to add and remove
        // relative to the published contents, or (after a replace) the
        // complete new contents. A transaction usually touches one table, so
        // the entry of the previous change is tried before the dictionary.
        var pending: [PendingTable] = []
        var positions: [TableID: Int] = [:]
        var last: (name: String, position: Int)?
        var arity: [TableID: Int] = [:]
        for change in changes {
            let position: Int
            if let last, last.name == change.table {
                position = last.position
            } else {
                let table = try table(change.table, node: node)
                if let known = positions[table] {
                    position = known
                } else {
                    position = pending.count
                    positions[table] = position
                    pending.append(PendingTable(table: table))
                }
                last = (change.table, position)
            }
            let table = pending[position].table
            switch change {
            case .insert(_, let row):
                try checkArity(row, table: table, node: node, batch: &arity)
                if pending[position].full != nil {
                    pending[position].full!.insert(row)
                } else if pending[position].removed.remove(row) == nil, !node.publisher.contains(row, in: table) {
                    pending[position].added.insert(row)
                }
            case .delete(_, let row):
                if pending[position].full != nil {
                    pending[position].full!.remove(row)
                } else if pending[position].added.remove(row) == nil, node.publisher.contains(row, in: table) {
                    pending[position].removed.insert(row)
                }
            case .replace(_, let rows):
                guard rows.count <= node.options.limits.maxRowsPerRequest else {
                    throw BusError(.tooManyRows, "\(rows.count) rows; the limit is \(node.options.limits.maxRowsPerRequest)")
                }
                for row in rows { try checkArity(row, table: table, node: node, batch: &arity) }
                pending[position].full = Set(rows)
                pending[position].added = []
                pending[position].removed = []
            }
        }
        for entry in pending {
            open(entry.table, node: node)
            openedBySubscribe.remove(entry.table)
            if let rows = entry.full {
                node.send(node.publisher.replace(entry.table, with: rows))
            } else {
                node.send(node.publisher.publish(entry.table, added: entry.added, removed: entry.removed))
            }
        }
    }

    func handle(_ request: ControlRequest, node: Node) throws(BusError) -> [String: JSON]? {
        switch request.op {
        case "tables":
            return ["tables": .array(node.publisher.openTables.map { table in tableInfo(table, node: node) })]
        case "query":
            let text = try request.string("query").trimmingCharacters(in: " ")
            let table = try ControlRequest.tableID(text.contains(":") ? text : "\(node.options.name):\(text)", limits: node.options.limits)
            try validate(table, node: node)
            guard let snapshot = node.publisher.snapshot(table) else {
                throw BusError(.unknownTable, "no table \(table)")
            }
            return ["rows": JSON(rows: snapshot.rows.sorted(by: Node.rowOrder))]
        case "facts":
            let action = try request.string("action")
            let table = try request.table("table", limits: node.options.limits)
            try validate(table, node: node)
            let rows = try request.rows("rows", limits: node.options.limits)
            let changes: [FactChange]
            switch action {
            case "insert": changes = rows.map { .insert(table: table.name, row: $0) }
            case "delete": changes = rows.map { .delete(table: table.name, row: $0) }
            case "replace": changes = [.replace(table: table.name, rows: rows)]
            default: throw BusError(.badRequest, "\"action\" must be insert, delete or replace")
            }
            try apply(changes, node: node)
            return ["seq": .int(Int64(node.publisher.seq(table) ?? 0))]
        case "rules":
            throw BusError(.notSupported, "a data source has no rules")
        default:
            return nil
        }
    }

    func tableInfo(_ table: TableID, node: Node) -> JSON {
        let snapshot = node.publisher.snapshot(table)
        return .object([
            "name": .string(table.description),
            "columns": snapshot?.columns.map { .array($0.map(JSON.string)) } ?? .null,
            "seq": .int(Int64(snapshot?.seq ?? 0)),
            "rows": .int(Int64(snapshot?.rows.count ?? 0)),
            "subscribers": .int(Int64(node.registry.subscriberCount(table))),
        ])
    }

    func status(node: Node) -> [String: JSON] { [:] }
    func externalRows(_ table: TableID, node: Node) -> [Row] { [] }
    func externalRowCount(_ table: TableID, node: Node) -> Int { 0 }
    func readable(socket index: Int, node: Node) {}
    func tick(now: UInt64, node: Node) {}
    func shutdown(node: Node) {}
}
