// MARK: - Printing tables

extension OfflineEvaluation {
    /// `{"tables": {"name": [[v1, v2], ...], ...}}`, tables and rows sorted.
    public static func json(_ tables: [(table: TableID, rows: [[Value]])]) -> String {
        String(decoding: printed(tables, json: true), as: UTF8.self)
    }

    /// Readable output: each table's rows as facts, one per line.
    public static func text(_ tables: [(table: TableID, rows: [[Value]])]) -> String {
        String(decoding: printed(tables, json: false), as: UTF8.self)
    }

    private static func printed(_ tables: [(table: TableID, rows: [[Value]])], json: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        var output = TableOutput(json: json) { bytes += $0 }
        for (table, rows) in tables.sorted(by: { $0.table < $1.table }) {
            output.startTable(table, rows: rows.count)
            for row in rows.sorted(by: rowPrecedes) {
                let cells = row.map { TableOutput.render($0, json: json) }
                output.row(cells.count) { cells[$0][...] }
            }
            output.endTable()
        }
        output.finish()
        return bytes
    }

    /// Writes the engine's tables as `json(_:)` or `text(_:)` print them
    /// (the same bytes), through `flush` about a megabyte at a time: what
    /// `eval` prints millions of rows with. Rows are sorted by ids ranked
    /// once per distinct value, and each distinct value is rendered once,
    /// so no row becomes an array of values.
    public static func write(_ tables: [TableID], of engine: Engine, json: Bool, flush: ([UInt8]) -> Void) {
        withoutActuallyEscaping(flush) { write(tables, of: engine, to: TableOutput(json: json, flush: $0)) }
    }

    private static func write(_ tables: [TableID], of engine: Engine, to output: TableOutput) {
        var output = output
        var ranks = [UInt32](repeating: .max, count: engine.pool.idLimit)
        for table in tables.sorted() {
            guard let rows = engine.tableStates[table]?.rows else {
                output.startTable(table, rows: 0)
                output.endTable()
                continue
            }
            output.startTable(table, rows: rows.count)
            SortedTable(rows, pool: engine.pool, json: output.json, ranks: &ranks).write(to: &output)
            output.endTable()
        }
        output.finish()
    }
}

/// One table's rows in order, as ranks of its distinct values (rendered once each).
private struct SortedTable {
    let arity: Int
    /// The distinct values' rendered bytes, in value order: value r is `arena[starts[r]..<starts[r + 1]]`.
    var arena: [UInt8] = []
    var starts: [Int] = [0]
    /// Arity ≤ 2: each row's ranks packed (first << 32 | second), sorted.
    var keys: [UInt64] = []
    /// Arity > 2: each row's ranks, flat, and the rows' order.
    var ranked: [UInt32] = []
    var order: [Int] = []

    /// `ranks` is all `.max` (one entry per pooled value) and is left so.
    init(_ rows: RowStore, pool: ValuePool, json: Bool, ranks: inout [UInt32]) {
        arity = rows.arity
        var distinct: [UInt32] = []
        for id in 0..<rows.idLimit where rows.alive[id] {
            for column in 0..<arity {
                let value = Int(rows.cell(UInt32(id), column))
                if ranks[value] == .max {
                    ranks[value] = 0
                    distinct.append(UInt32(value))
                }
            }
        }
        SortedTable.sort(&distinct, pool: pool)
        for (rank, value) in distinct.enumerated() {
            ranks[Int(value)] = UInt32(rank)
            TableOutput.render(pool[value], json: json, into: &arena)
            starts.append(arena.count)
        }
        func rank(_ id: Int, _ column: Int) -> UInt32 { ranks[Int(rows.cell(UInt32(id), column))] }
        if arity <= 2 {
            keys.reserveCapacity(rows.count)
            for id in 0..<rows.idLimit where rows.alive[id] {
                keys.append(arity == 0 ? 0 : UInt64(rank(id, 0)) << 32 | (arity == 2 ? UInt64(rank(id, 1)) : 0))
            }
            keys.sort()
        } else {
            ranked.reserveCapacity(rows.count * arity)
            for id in 0..<rows.idLimit where rows.alive[id] {
                for column in 0..<arity { ranked.append(rank(id, column)) }
            }
            order = Array(0..<rows.count)
            order.sort { [ranked, arity] a, b in
                for column in 0..<arity where ranked[a * arity + column] != ranked[b * arity + column] {
                    return ranked[a * arity + column] < ranked[b * arity + column]
                }
                return false
            }
        }
        for value in distinct { ranks[Int(value)] = .max }
    }

    /// Sorts value ids by `Value`'s order. Strings (after every number)
    /// compare by their first eight UTF-8 bytes first, which orders them as
    /// their scalars do, so most comparisons of a million strings read no string.
    static func sort(_ ids: inout [UInt32], pool: ValuePool) {
        struct Entry {
            var id: UInt32
            /// Nil for a number.
            var prefix: UInt64?
        }
        var entries = ids.map { id in
            guard case .string(let text) = pool[id] else { return Entry(id: id, prefix: nil) }
            var prefix: UInt64 = 0
            var count = 0
            for byte in text.utf8.prefix(8) {
                prefix |= UInt64(byte) << (56 - 8 * count)
                count += 1
            }
            return Entry(id: id, prefix: prefix)
        }
        entries.sort { a, b in
            switch (a.prefix, b.prefix) {
            case (nil, .some): return true
            case (.some, nil): return false
            case (.some(let x), .some(let y)) where x != y: return x < y
            default: return pool[a.id] < pool[b.id]
            }
        }
        ids = entries.map(\.id)
    }

    func write(to output: inout TableOutput) {
        func cell(_ rank: UInt32) -> ArraySlice<UInt8> { arena[starts[Int(rank)]..<starts[Int(rank) + 1]] }
        if arity <= 2 {
            for key in keys {
                output.row(arity) { cell(UInt32(truncatingIfNeeded: $0 == 0 ? key >> 32 : key)) }
            }
        } else {
            for row in order {
                output.row(arity) { cell(ranked[row * arity + $0]) }
            }
        }
    }
}

/// eval's output format, written into a buffer that `flush` empties about a megabyte at a time.
struct TableOutput {
    let json: Bool
    let flush: ([UInt8]) -> Void
    private var writer = JSONWriter(capacity: 1 << 20)
    private var name: [UInt8] = []
    private var tables = 0
    private var rows = 0

    init(json: Bool, flush: @escaping ([UInt8]) -> Void) {
        self.json = json
        self.flush = flush
        if json { writer.raw("{\"tables\": {") }
    }

    /// A value as a cell of the output: JSON, or policy text.
    static func render(_ value: Value, json: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        render(value, json: json, into: &bytes)
        return bytes
    }

    /// Appends the rendered value to `bytes`, with no buffer of its own.
    static func render(_ value: Value, json: Bool, into bytes: inout [UInt8]) {
        guard json else {
            bytes += value.description.utf8
            return
        }
        var writer = JSONWriter(capacity: 0)
        swap(&writer.bytes, &bytes)
        writer.value(value)
        swap(&writer.bytes, &bytes)
    }

    mutating func startTable(_ table: TableID, rows count: Int) {
        if json {
            if tables > 0 { writer.raw(", ") }
            writer.string(table.description)
            writer.raw(": [")
        } else {
            writer.bytes += "# \(table): \(count) \(count == 1 ? "row" : "rows")\n".utf8
            name = Array(table.description.utf8)
        }
        tables += 1
        rows = 0
    }

    /// A row of `count` cells, each already rendered.
    @inline(__always)
    mutating func row(_ count: Int, cell: (Int) -> ArraySlice<UInt8>) {
        if json {
            if rows > 0 { writer.raw(", ") }
            writer.byte(UInt8(ascii: "["))
        } else {
            writer.bytes += name
            writer.byte(UInt8(ascii: "("))
        }
        for column in 0..<count {
            if column > 0 { writer.raw(", ") }
            writer.bytes += cell(column)
        }
        writer.raw(json ? "]" : ")\n")
        rows += 1
        if writer.bytes.count >= 1 << 20 {
            flush(writer.bytes)
            writer.bytes.removeAll(keepingCapacity: true)
        }
    }

    mutating func endTable() {
        if json { writer.byte(UInt8(ascii: "]")) }
    }

    mutating func finish() {
        if json { writer.raw("}}") }
        flush(writer.bytes)
        writer.bytes.removeAll()
    }
}
