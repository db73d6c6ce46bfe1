// MARK: - Facts files

extension OfflineEvaluation {
    /// A facts file read straight into a fresh engine's value pool: per
    /// table, its rows as interned ids stored flat, no array per row. What
    /// `eval` loads a million rows through (`readFacts`, then `load`).
    public struct Facts {
        /// The engine the values are interned in; `load` loads into it.
        let engine: Engine
        /// No row holds the values yet: the engine's sweeps wait until they are loaded.
        let pin: ValuePool.Pin
        /// In name order.
        var tables: [Table]

        struct Table {
            var name: String
            var rows = 0
            /// The first row's length.
            var arity = 0
            /// The first row length other than `arity`, if any: the load's arity error.
            var otherArity: Int?
            /// The rows one after the other (a slice of one array all tables share).
            var cells: ArraySlice<UInt32> = []
        }

        /// How many rows the file holds.
        public var rowCount: Int { tables.reduce(0) { $0 + $1.rows } }

        /// No facts, for a fresh engine.
        public init() {
            self.init(engine: Engine(), tables: [])
        }

        init(engine: Engine, tables: [Table]) {
            self.engine = engine
            self.pin = ValuePool.Pin(engine.pool)
            self.tables = tables
        }

        /// Rows given as values (tests, `policybus test`), interned into a fresh engine.
        /// A name given twice loads both lists of rows.
        public init(_ facts: [(table: String, rows: [[Value]])]) {
            let engine = Engine()
            var sink = InternedSink(pool: engine.pool, estimate: 0)
            for name in Set(facts.map(\.table)) {
                sink.startTable(name)
                for (table, rows) in facts where table == name {
                    for row in rows {
                        for value in row { sink.append(value) }
                        sink.endRow(values: row.count)
                    }
                }
            }
            self.init(engine: engine, tables: sink.finish())
        }
    }

    /// Parses a facts file, `{"table": [[v1, v2], ...], "service:table": [...]}`,
    /// straight into a fresh engine's values (see `parseFacts` for the rules).
    /// - Throws: `invalid-facts`, naming the line and column of what is wrong.
    public static func readFacts(_ bytes: [UInt8]) throws(PolicyError) -> Facts {
        let engine = Engine()
        var sink = InternedSink(pool: engine.pool, estimate: bytes.count / 2)
        var parser = JSONParser(bytes: bytes)
        try readFacts(&parser, into: &sink)
        return Facts(engine: engine, tables: sink.finish())
    }

    /// Parses a facts file: `{"table": [[v1, v2], ...], "service:table": [...]}`.
    /// JSON integers become integers and JSON numbers with a fraction or exponent
    /// become floats (`1` and `1.0` differ); booleans and nulls are rejected, and
    /// so is an integer outside the int64 range. Rows are read straight into
    /// values, without a JSON tree.
    /// - Returns: the tables in name order; a name given twice keeps its last rows, as a JSON object does.
    /// - Throws: `invalid-facts`, naming the line and column of what is wrong.
    public static func parseFacts(_ bytes: some Collection<UInt8>) throws(PolicyError) -> [(table: String, rows: [[Value]])] {
        var parser = JSONParser(bytes: Array(bytes))
        var sink = RowsSink()
        try readFacts(&parser, into: &sink)
        return sink.tables.keys.sorted().map { ($0, sink.tables[$0]!) }
    }

    /// The one reader of facts files; `sink` takes what it reads.
    private static func readFacts(_ parser: inout JSONParser, into sink: inout some FactsSink) throws(PolicyError) {
        do throws(JSONError) {
            guard try parser.peek() == UInt8(ascii: "{") else {
                throw parser.fail("the facts file must be a JSON object mapping table names to arrays of rows")
            }
            if try !parser.open(UInt8(ascii: "{"), closing: UInt8(ascii: "}")) {
                repeat {
                    let name = try parser.parseMemberName()
                    sink.startTable(name)
                    try readRows(&parser, of: name, into: &sink)
                } while try parser.next(closing: UInt8(ascii: "}"))
            }
            try parser.expectEnd()
        } catch {
            throw PolicyError(.invalidFacts, "facts file: \(error.message)")
        }
    }

    private static func readRows(_ parser: inout JSONParser, of name: String, into sink: inout some FactsSink) throws(JSONError) {
        guard try parser.peek() == UInt8(ascii: "[") else { throw parser.fail("the facts of '\(name)' must be an array of rows (arrays)") }
        if try parser.open(UInt8(ascii: "["), closing: UInt8(ascii: "]")) { return }
        var number = 0
        repeat {
            try readRow(&parser, number: number, of: name, into: &sink)
            number += 1
        } while try parser.next(closing: UInt8(ascii: "]"))
    }

    private static func readRow(_ parser: inout JSONParser, number: Int, of name: String, into sink: inout some FactsSink) throws(JSONError) {
        guard try parser.peek() == UInt8(ascii: "[") else { throw parser.fail("row \(number) of '\(name)' must be an array of values") }
        var count = 0
        if try !parser.open(UInt8(ascii: "["), closing: UInt8(ascii: "]")) {
            repeat {
                let start = parser.index
                switch try parser.parseTableValue() {
                case .success(let value): sink.append(value)
                case .failure(let other):
                    parser.index = start
                    throw parser.fail("row \(number) of '\(name)' holds \(other.description); values must be integers, floats or strings")
                }
                count += 1
            } while try parser.next(closing: UInt8(ascii: "]"))
        }
        sink.endRow(values: count)
    }

    /// Loads the policies (all rules in one transaction), then the facts,
    /// into the engine `facts` was read into, each transaction within
    /// `budget`. Errors come in the order the facts file's tables come (by
    /// name): a bad table name or unknown table first, then arity.
    public static func load(
        policies: [PolicySource], facts: Facts, schemas: [TableID: [String]] = [:], budget: TransactionBudget = .unlimited,
        allowUnknownFacts: Bool = true
    ) throws(PolicyError) -> Engine {
        let engine = facts.engine
        for (table, columns) in schemas { engine.declareColumns(columns, for: table) }
        for policy in policies { try engine.createPolicy(policy.name) }
        var transaction = Transaction()
        for policy in policies { transaction.insertRules(policy.text, policy: policy.name) }
        try engine.load(transaction, budget: budget)
        var named: [(id: TableID, table: Facts.Table)] = []
        for table in facts.tables {
            let id = try tableID(table.name, defaultPolicy: policies.first?.name)
            guard allowUnknownFacts || engine.contains(id) else {
                throw PolicyError(.unknownTable, "facts for \(id), which no rule reads; give --allow-unknown-facts to load them anyway")
            }
            if table.rows > 0 { named.append((id, table)) }
        }
        // The engine's arity check, made here because the rows are flat.
        var arities: [TableID: Int] = [:]
        var change = LoweredTransaction()
        for (id, table) in named {
            let arity = arities[id] ?? engine.tableStates[id]?.arity ?? table.arity
            for length in [table.arity, table.otherArity ?? arity] where length != arity {
                throw PolicyError(.arityMismatch, "\(id) has \(arity) columns, but is used here with \(length)")
            }
            arities[id] = arity
            change.rowOperations.append(.insertInterned(id, rows: table.rows, cells: table.cells))
        }
        try engine.applyLowered(change, returningDeltas: false, budget: budget)
        return engine
    }
}

/// Where the facts reader puts what it reads.
private protocol FactsSink {
    /// A table's rows follow; a name given again replaces its earlier rows.
    mutating func startTable(_ name: String)
    mutating func append(_ value: Value)
    /// The row whose `values` values were just appended ends.
    mutating func endRow(values: Int)
}

/// Rows as arrays of values.
private struct RowsSink: FactsSink {
    var tables: [String: [[Value]]] = [:]
    private var name = ""
    private var row: [Value] = []

    mutating func startTable(_ name: String) {
        self.name = name
        tables[name] = []
    }

    mutating func append(_ value: Value) { row.append(value) }

    mutating func endRow(values: Int) {
        tables[name]!.append(row)
        row = []
    }
}

/// Rows as ids interned in an engine's pool, stored flat: one array for
/// every table, so that it grows once rather than per table.
private struct InternedSink: FactsSink {
    let pool: ValuePool
    private var cells: [UInt32] = []
    private var tables: [String: OfflineEvaluation.Facts.Table] = [:]
    /// Each table's cells; the slices are taken at the end, as a slice taken
    /// earlier would make the next append copy the array.
    private var ranges: [String: Range<Int>] = [:]
    private var current: OfflineEvaluation.Facts.Table?
    private var start = 0

    /// `estimate` is room for that many cells: reserved, not touched, so an
    /// overestimate costs address space only (every cell of a facts file
    /// takes at least two bytes), and the array is never copied to grow.
    init(pool: ValuePool, estimate: Int) {
        self.pool = pool
        cells.reserveCapacity(estimate)
    }

    mutating func startTable(_ name: String) {
        endTable()
        current = OfflineEvaluation.Facts.Table(name: name)
        start = cells.count
    }

    @inline(__always)
    mutating func append(_ value: Value) { cells.append(pool.intern(value)) }

    mutating func endRow(values: Int) {
        if current!.rows == 0 {
            current!.arity = values
        } else if values != current!.arity && current!.otherArity == nil {
            current!.otherArity = values
        }
        current!.rows += 1
    }

    private mutating func endTable() {
        guard let current else { return }
        tables[current.name] = current
        ranges[current.name] = start..<cells.count
        self.current = nil
    }

    /// The tables in name order.
    mutating func finish() -> [OfflineEvaluation.Facts.Table] {
        endTable()
        return tables.keys.sorted().map { name in
            var table = tables[name]!
            table.cells = cells[ranges[name]!]
            return table
        }
    }
}
