/// The insertion phase of a recursive stratum: semi-naive evaluation a set at a time.
///
/// Each round joins the rows the previous round added (the delta) with the
/// stored tables: every stratum rule runs once per stratum literal whose table
/// has a delta, seeded with all of that delta's rows in one executor run, so
/// no derivation made only of older rows is repeated. Derived rows are
/// buffered flat per table (no allocation per row) and stored when the round
/// ends, so the joins never read a table that is changing under them; the
/// rows new in the round are the next round's delta.
///
/// Ranks (see `RankToken`): a row first derived earns one more than the
/// highest rank of its derivation's stratum rows, read by id from the rows the
/// executor matched (no lookup). Every derivation of a round reads only rows
/// stored before the round, so the ranks are well founded.
struct SemiNaiveInsertion {
    /// A stratum rule reading a stratum table in a positive literal.
    private struct Use {
        let rule: CompiledRule
        let literal: Int
        let patterns: [SlotPattern]
        /// Position of the rule's head in the stratum's tables.
        let head: Int
        /// The rule's other positive literals over stratum tables.
        let others: [Int]
    }

    let engine: Engine
    let tables: [TableState]
    private var uses: [[Use]]
    /// Row ids (in `rows`) each table gained since its rows were last joined.
    private var delta: [[UInt32]]
    /// Set when a rank grows past half the range: the caller re-ranks the stratum.
    private(set) var needsRerank = false

    init(engine: Engine, tables: [TableState]) {
        self.engine = engine
        self.tables = tables
        delta = Array(repeating: [], count: tables.count)
        var index: [ObjectIdentifier: Int] = [:]
        for (position, table) in tables.enumerated() { index[ObjectIdentifier(table)] = position }
        uses = tables.map { table in
            (engine.graph.uses[ObjectIdentifier(table)] ?? []).compactMap { use in
                guard let head = index[ObjectIdentifier(use.rule.head)],
                    case .positive(_, let patterns) = use.rule.literals[use.literal]
                else { return nil }
                let others = SemiNaiveInsertion.stratumLiterals(use.rule, index).filter { $0 != use.literal }
                return Use(rule: use.rule, literal: use.literal, patterns: patterns, head: head, others: others)
            }
        }
    }

    /// Positions of `rule`'s positive literals over the stratum's tables.
    private static func stratumLiterals(_ rule: CompiledRule, _ index: [ObjectIdentifier: Int]) -> [Int] {
        rule.literals.indices.filter { position in
            if case .positive(let body, _) = rule.literals[position] { index[ObjectIdentifier(body)] != nil } else { false }
        }
    }

    /// Stores `row` with `rank` unless present (a fact then just becomes one), and queues it for the next round.
    mutating func insert(_ table: TableState, _ row: [UInt32], fact: Bool, rank: Int32) {
        if let id = table.rows.find(row) {
            if fact { table.setFlag(id, fact: true) }
            return
        }
        guard let position = tables.firstIndex(where: { $0 === table }) else { return }
        store(position, row, rank: rank, fact: fact)
    }

    private mutating func store(_ position: Int, _ row: [UInt32], rank: Int32, fact: Bool = false) {
        if rank > Int32.max / 2 { needsRerank = true }
        delta[position].append(tables[position].add(row, count: rank, fact: fact))
    }

    /// Rows whose probes are brought into cache together before they are stored.
    private static let touchBatch = 16

    /// Runs rounds until no table gains a row.
    mutating func run() {
        let executor = engine.executor
        while delta.contains(where: { !$0.isEmpty }) {
            // A round may derive one row (`n(y) :- n(x), y = x + 1`): the
            // rows' ticks alone would read the clock every few thousand rounds.
            executor.readClock()
            let round = delta
            delta = Array(repeating: [], count: tables.count)
            var cells = [[UInt32]](repeating: [], count: tables.count)
            var ranks = [[Int32]](repeating: [], count: tables.count)
            for (position, seeds) in round.enumerated() where !seeds.isEmpty {
                let seedTable = tables[position]
                for use in uses[position] {
                    var seedRank: Int32 = 0
                    // Local buffers: appending to `cells[use.head]` checked two arrays' uniqueness per row.
                    var headCells: [UInt32] = []
                    var headRanks: [Int32] = []
                    executor.run(
                        use.rule, seed: use.literal, views: use.rule.currentViews, seeds: seeds,
                        seedBind: { bindings, id in
                            seedRank = seedTable.counts[Int(id)]
                            return Executor.bind(use.patterns, store: seedTable.rows, row: id, into: &bindings)
                        }
                    ) { row in
                        var rank = seedRank
                        for literal in use.others {
                            guard let body = use.rule.literals[literal].table else { continue }
                            rank = max(rank, body.counts[Int(executor.matchedRow(literal))])
                        }
                        headCells.append(contentsOf: row)
                        headRanks.append(rank + 1)
                        return true
                    }
                    cells[use.head].append(contentsOf: headCells)
                    ranks[use.head].append(contentsOf: headRanks)
                }
            }
            storeRound(cells, ranks)
        }
    }

    /// Stores a round's derived rows that are new (one probe each). A row
    /// derived more than once keeps the rank of the first derivation stored:
    /// any derivation's rank is well founded.
    private mutating func storeRound(_ cells: [[UInt32]], _ ranks: [[Int32]]) {
        for position in tables.indices where !ranks[position].isEmpty {
            let table = tables[position]
            let arity = table.arity
            var row = [UInt32](repeating: 0, count: arity)
            let flat = cells[position]
            let rowRanks = ranks[position]
            var start = 0
            while start < rowRanks.count {
                let end = min(start + SemiNaiveInsertion.touchBatch, rowRanks.count)
                table.rows.touch(rows: flat, from: start, count: end - start)
                for index in start..<end {
                    for column in 0..<arity { row[column] = flat[index * arity + column] }
                    let rank = rowRanks[index]
                    guard let id = table.addIfAbsent(row, count: rank, fact: false) else { continue }
                    if rank > Int32.max / 2 { needsRerank = true }
                    delta[position].append(id)
                }
                start = end
            }
        }
    }
}

extension Engine {
    /// The rank a derivation that the executor is emitting earns from the
    /// stratum rows it matched, read by id (-1 when it matched none), like
    /// `bodyRank` without its lookups. Valid only when every stratum literal of
    /// `rule` was scanned in the `.current` view (none is the seed).
    func matchedRank(_ rule: CompiledRule, members: Set<ObjectIdentifier>) -> Int32 {
        var rank: Int32 = -1
        for (position, literal) in rule.literals.enumerated() {
            guard case .positive(let body, _) = literal, members.contains(ObjectIdentifier(body)) else { continue }
            rank = max(rank, body.counts[Int(executor.matchedRow(position))])
        }
        return rank
    }
}
