// Engine benchmarks (scripts/bench engine). Prints figures; asserts nothing.
//
// W1: error(vm) :- servers(vm, host), not allowed(host); N servers over N/10
//     allowed hosts; each update inserts or deletes one server on a disallowed
//     host; time from apply() to the trigger callback holding the delta.
// W2: the same program, 1M servers loaded in one transaction.
// W3: transitive closure over a random graph (2,000 nodes, 6,000 edges): full
//     evaluation, then incremental edge inserts and deletes, each compared with
//     a full re-evaluation in the same run. W3 times are thread CPU times, so
//     that other processes on the machine do not inflate them.
// W4: an Andersen-style points-to analysis (see `pointsToRules`) over a
//     synthetic program's pointer facts: full evaluation, then one direct-flow
//     edge inserted or deleted. Thread CPU times, as W3.
// Memory: resident set growth per stored row at N = 1M.
// Roll-back: a transaction refused over its budget next to an N-row table (Rollback.swift).
// Pool memory: the live heap after rows of big unique strings are inserted and deleted (PoolMemory.swift).
// Facts: eval's facts file of 1M rows through the shared JSON reader (FactsLoad.swift).
// Ratios: the workloads compared with DuckDB (Ratios.swift, Benchmarks/duckdb/ratios.py).

#if canImport(Glibc)
    import Glibc
#endif
import Foundation
import PolicyEngine

let arguments = CommandLine.arguments
let quick = arguments.contains("--quick")

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// This thread's CPU time: robust when other processes compete for the cores.
func cpuNow() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

func percentile(_ sorted: [UInt64], _ p: Double) -> UInt64 {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
    return sorted[rank]
}

func micros(_ nanos: UInt64) -> String { String(format: "%.2f µs", Double(nanos) / 1000) }
func millis(_ nanos: UInt64) -> String { String(format: "%.1f ms", Double(nanos) / 1_000_000) }

/// Resident set size in bytes, from /proc/self/statm, after returning freed heap to the OS.
func residentBytes() -> Int {
    #if canImport(Glibc)
        // malloc_trim is not in the Glibc module map; look it up.
        if let symbol = dlsym(nil, "malloc_trim") {
            typealias Trim = @convention(c) (Int) -> Int32
            _ = unsafeBitCast(symbol, to: Trim.self)(0)
        }
    #endif
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

let servers = TableID(service: "nova", name: "servers")
let allowed = TableID(service: "alice", name: "allowed")
let errorTable = TableID(service: "alice", name: "error")

func errorEngine() throws -> Engine {
    let engine = Engine()
    try engine.createPolicy("alice")
    var transaction = Transaction()
    transaction.insertRules("error(vm) :- nova:servers(vm, host), not allowed(host)", policy: "alice")
    try engine.apply(transaction)
    return engine
}

/// Loads N servers over N/10 hosts (all allowed), in transactions of `batch` rows.
func load(_ engine: Engine, n: Int, batch: Int) throws {
    let hosts = max(n / 10, 1)
    var transaction = Transaction()
    for host in 0..<hosts { transaction.insert([.string("h\(host)")], into: allowed) }
    try engine.apply(transaction)
    var start = 0
    while start < n {
        var chunk = Transaction()
        for i in start..<min(start + batch, n) { chunk.insert([.string("vm\(i)"), .string("h\(i % hosts)")], into: servers) }
        try engine.apply(chunk)
        start += batch
    }
}

// MARK: - W1

func w1(n: Int, updates: Int) throws {
    let engine = try errorEngine()
    let loadStart = now()
    try load(engine, n: n, batch: 100_000)
    let loadTime = now() - loadStart
    var firedAt: UInt64 = 0
    var lastDelta: TableDelta?
    engine.addTrigger(on: errorTable) { delta in
        firedAt = now()
        lastDelta = delta
    }
    var latencies: [UInt64] = []
    latencies.reserveCapacity(updates)
    for k in 0..<updates {
        let row: [Value] = [.string("bad-vm\(k / 2)"), .string("bad-host\(k / 2)")]
        var transaction = Transaction()
        if k % 2 == 0 { transaction.insert(row, into: servers) } else { transaction.delete(row, from: servers) }
        firedAt = 0
        let start = now()
        try engine.apply(transaction)
        precondition(firedAt != 0 && lastDelta != nil, "the trigger did not fire")
        latencies.append(firedAt - start)
    }
    latencies.sort()
    print(
        "W1 N=\(n): p50 \(micros(percentile(latencies, 50))), p99 \(micros(percentile(latencies, 99))), "
            + "max \(micros(latencies.last ?? 0)) over \(updates) updates (load \(millis(loadTime)))")
}

// MARK: - Simulate

/// W1's engine: one server inserted (and deleted again) for real, and the
/// same change simulated (applied and undone by its inverse, both incremental).
func simulateWorkload(n: Int, samples: Int) throws {
    let engine = try errorEngine()
    try load(engine, n: n, batch: 100_000)
    var applied: [UInt64] = []
    var simulated: [UInt64] = []
    for k in 0..<samples {
        let row: [Value] = [.string("sim-vm\(k)"), .string("sim-host\(k)")]
        var insert = Transaction()
        insert.insert(row, into: servers)
        var start = now()
        let deltas = try engine.simulate(insert, tables: [errorTable])
        simulated.append(now() - start)
        precondition(deltas.first?.added.count == 1, "simulate saw no new error")
        start = now()
        try engine.apply(insert)
        applied.append(now() - start)
        var delete = Transaction()
        delete.delete(row, from: servers)
        try engine.apply(delete)
    }
    applied.sort()
    simulated.sort()
    print(
        "simulate N=\(n): apply one server p50 \(micros(percentile(applied, 50))), "
            + "simulate it p50 \(micros(percentile(simulated, 50))), p99 \(micros(percentile(simulated, 99)))")
}

// MARK: - W2

func w2(n: Int) throws {
    let engine = try errorEngine()
    let hosts = n / 10
    var hostTransaction = Transaction()
    for host in 0..<hosts { hostTransaction.insert([.string("h\(host)")], into: allowed) }
    try engine.apply(hostTransaction)
    var transaction = Transaction()
    for i in 0..<n { transaction.insert([.string("vm\(i)"), .string("h\(i % hosts)")], into: servers) }
    let start = now()
    let cpuStart = cpuNow()
    try engine.apply(transaction)
    let elapsed = now() - start
    let cpu = cpuNow() - cpuStart
    print(
        "W2 bulk load: \(n) rows in \(millis(elapsed)) wall, \(millis(cpu)) cpu: "
            + String(format: "%.0f rows/s wall, %.0f rows/s cpu", Double(n) / (Double(elapsed) / 1e9), Double(n) / (Double(cpu) / 1e9)))
    // Same load with a tenth of the servers on disallowed hosts, so the derived table fills too.
    let second = try errorEngine()
    try second.apply(hostTransaction)
    var mixed = Transaction()
    for i in 0..<n { mixed.insert([.string("vm\(i)"), .string(i % 10 == 0 ? "x\(i)" : "h\(i % hosts)")], into: servers) }
    let mixedStart = now()
    let mixedCPUStart = cpuNow()
    try second.apply(mixed)
    let mixedElapsed = now() - mixedStart
    let mixedCPU = cpuNow() - mixedCPUStart
    print(
        "W2 bulk load, 10% errors: \(n) rows + \(second.count(of: errorTable)) derived in \(millis(mixedElapsed)) wall, \(millis(mixedCPU)) cpu: "
            + String(format: "%.0f rows/s wall, %.0f rows/s cpu", Double(n) / (Double(mixedElapsed) / 1e9), Double(n) / (Double(mixedCPU) / 1e9)))
}

// MARK: - Memory

func memory(n: Int) throws {
    let before = residentBytes()
    let engine = try errorEngine()
    try load(engine, n: n, batch: 10_000)
    let after = residentBytes()
    let rows = n + n / 10
    print(
        "Memory N=\(n): \(String(format: "%.1f", Double(after - before) / 1_048_576)) MiB resident for \(rows) rows "
            + "(\(n) servers + \(n / 10) allowed): \((after - before) / rows) bytes/row")
    withExtendedLifetime(engine) {}
}

// MARK: - W3

struct Random {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}

/// W3's graph: `edges` distinct edges between `nodes` nodes, no self-loops,
/// sorted, drawn from `random` (W3 and the DuckDB ratios share it).
func randomGraph(nodes: Int, edges: Int, random: inout Random) -> [[Int]] {
    var edgeSet = Set<[Int]>()
    while edgeSet.count < edges {
        let a = random.next(nodes)
        let b = random.next(nodes)
        if a != b { edgeSet.insert([a, b]) }
    }
    return edgeSet.sorted { $0.lexicographicallyPrecedes($1) }
}

func w3(nodes: Int, edges: Int, samples: Int) throws {
    let edge = TableID(service: "g", name: "edge")
    let path = TableID(service: "g", name: "path")
    var random = Random(state: 42)
    let edgeList = randomGraph(nodes: nodes, edges: edges, random: &random)
    let edgeSet = Set(edgeList)

    func fullEvaluation(_ edges: [[Int]]) throws -> (Engine, UInt64) {
        let engine = Engine()
        try engine.createPolicy("g")
        var transaction = Transaction()
        transaction.insertRules("path(x, y) :- edge(x, y)\npath(x, z) :- path(x, y), edge(y, z)", policy: "g")
        for e in edges { transaction.insert([.int(Int64(e[0])), .int(Int64(e[1]))], into: edge) }
        let start = cpuNow()
        try engine.load(transaction)
        return (engine, cpuNow() - start)
    }

    let (engine, full) = try fullEvaluation(edgeList)
    print("W3 full evaluation: \(nodes) nodes, \(edges) edges -> \(engine.count(of: path)) paths in \(millis(full))")

    var inserts: [UInt64] = []
    var deletes: [UInt64] = []
    for _ in 0..<samples {
        var newEdge: [Int]
        repeat { newEdge = [random.next(nodes), random.next(nodes)] } while newEdge[0] == newEdge[1] || edgeSet.contains(newEdge)
        let row: [Value] = [.int(Int64(newEdge[0])), .int(Int64(newEdge[1]))]
        var insert = Transaction()
        insert.insert(row, into: edge)
        var start = cpuNow()
        try engine.apply(insert)
        inserts.append(cpuNow() - start)
        var delete = Transaction()
        delete.delete(row, from: edge)
        start = cpuNow()
        try engine.apply(delete)
        deletes.append(cpuNow() - start)
    }
    // Deleting an edge of the original graph (then putting it back, untimed).
    var originalDeletes: [UInt64] = []
    for _ in 0..<samples {
        let e = edgeList[random.next(edgeList.count)]
        let row: [Value] = [.int(Int64(e[0])), .int(Int64(e[1]))]
        var delete = Transaction()
        delete.delete(row, from: edge)
        let start = cpuNow()
        try engine.apply(delete)
        originalDeletes.append(cpuNow() - start)
        var insert = Transaction()
        insert.insert(row, into: edge)
        try engine.apply(insert)
    }
    let (_, again) = try fullEvaluation(edgeList)
    inserts.sort()
    deletes.sort()
    originalDeletes.sort()
    func ratio(_ nanos: UInt64) -> String { String(format: "%.4f", Double(nanos) / Double(again)) }
    print("W3 full re-evaluation (baseline, same run): \(millis(again))")
    print("W3 insert new edge: p50 \(micros(percentile(inserts, 50))) (ratio to full \(ratio(percentile(inserts, 50))))")
    print("W3 delete that edge: p50 \(micros(percentile(deletes, 50))) (ratio to full \(ratio(percentile(deletes, 50))))")
    print(
        "W3 delete an original edge: p50 \(micros(percentile(originalDeletes, 50))), p99 \(micros(percentile(originalDeletes, 99))) "
            + "(ratio to full \(ratio(percentile(originalDeletes, 50))))")
}

// MARK: - W4

/// A synthetic C program's pointer facts, from a fixed seed: variables grouped
/// in functions of 20, flow mostly forward inside a function, three tenths of
/// it across functions (calls and returns, which make cycles).
struct PointerFacts {
    var alloc: [[Int]] = []
    var assign: [[Int]] = []
    var load: [[Int]] = []
    var store: [[Int]] = []
    var global: [[Int]] = []

    init(scale: Int, random: inout Random) {
        let functionSize = 20
        let variables = 30_000 / scale
        let functions = variables / functionSize
        func local(_ function: Int, _ random: inout Random) -> Int { function * functionSize + random.next(functionSize) }
        // Objects are numbered after the variables.
        for site in 0..<(300 / scale) { alloc.append([random.next(variables), variables + site]) }
        var seen = Set<[Int]>()
        while assign.count < 30_000 / scale {
            let function = random.next(functions)
            var edge: [Int]
            let roll = random.next(10)
            if roll < 2 {
                // A call passes an argument to one of the callee's first three variables.
                edge = [random.next(functions) * functionSize + random.next(3), local(function, &random)]
            } else if roll < 3 {
                // A return: one of the callee's last three variables flows back to the caller.
                edge = [local(function, &random), random.next(functions) * functionSize + functionSize - 1 - random.next(3)]
            } else {
                let a = local(function, &random)
                let b = local(function, &random)
                edge = [max(a, b), min(a, b)]
            }
            if edge[0] != edge[1] && seen.insert(edge).inserted { assign.append(edge) }
        }
        for _ in 0..<(10_000 / scale) {
            let function = random.next(functions)
            load.append([local(function, &random), local(function, &random)])
        }
        for _ in 0..<(2_000 / scale) {
            let function = random.next(functions)
            store.append([local(function, &random), local(function, &random)])
        }
        for _ in 0..<(1_000 / scale) { global.append([random.next(variables)]) }
    }
}

/// Andersen-style points-to: pt through direct flow, loads and stores through
/// memory (`heap`), reachability through memory, the escaping objects, and
/// `local` negating the recursive `escapes`.
let pointsToRules = """
    pt(v, o) :- alloc(v, o)
    pt(v, o) :- assign(v, u), pt(u, o)
    pt(v, o) :- load(v, p), pt(p, q), heap(q, o)
    heap(q, o) :- store(p, u), pt(p, q), pt(u, o)
    reach(o, o2) :- heap(o, o2)
    reach(o, o3) :- reach(o, o2), heap(o2, o3)
    escapes(o) :- global(v), pt(v, o)
    escapes(o2) :- escapes(o), reach(o, o2)
    local(v, o) :- pt(v, o), not escapes(o)
    """

func w4(scale: Int, samples: Int) throws {
    var random = Random(state: 7)
    let facts = PointerFacts(scale: scale, random: &random)
    func table(_ name: String) -> TableID { TableID(service: "pta", name: name) }
    func row(_ values: [Int]) -> [Value] { values.map { .int(Int64($0)) } }

    func fullEvaluation() throws -> (Engine, UInt64) {
        let engine = Engine()
        try engine.createPolicy("pta")
        var transaction = Transaction()
        transaction.insertRules(pointsToRules, policy: "pta")
        for (name, rows) in [("alloc", facts.alloc), ("assign", facts.assign), ("load", facts.load), ("store", facts.store), ("global", facts.global)] {
            for values in rows { transaction.insert(row(values), into: table(name)) }
        }
        let start = cpuNow()
        try engine.load(transaction)
        return (engine, cpuNow() - start)
    }
    let (engine, full) = try fullEvaluation()
    let inputs = facts.alloc.count + facts.assign.count + facts.load.count + facts.store.count + facts.global.count
    let derived = ["pt", "heap", "reach", "escapes", "local"].map { "\($0) \(engine.count(of: table($0)))" }
    print("W4 full evaluation: \(inputs) facts (\(facts.assign.count) assign) -> \(derived.joined(separator: ", ")) in \(millis(full))")

    func timed(_ change: (inout Transaction) -> Void) throws -> UInt64 {
        var transaction = Transaction()
        change(&transaction)
        let start = cpuNow()
        try engine.apply(transaction)
        return cpuNow() - start
    }
    var inserts: [UInt64] = []
    var deletes: [UInt64] = []
    var originalDeletes: [UInt64] = []
    let existing = Set(facts.assign)
    let variables = 30_000 / scale
    for _ in 0..<samples {
        var edge: [Int]
        repeat { edge = [random.next(variables), random.next(variables)] } while edge[0] == edge[1] || existing.contains(edge)
        inserts.append(try timed { $0.insert(row(edge), into: table("assign")) })
        deletes.append(try timed { $0.delete(row(edge), from: table("assign")) })
        let original = facts.assign[random.next(facts.assign.count)]
        originalDeletes.append(try timed { $0.delete(row(original), from: table("assign")) })
        _ = try timed { $0.insert(row(original), into: table("assign")) }
    }
    inserts.sort()
    deletes.sort()
    originalDeletes.sort()
    print(
        "W4 insert an assign edge: p50 \(micros(percentile(inserts, 50))), p99 \(micros(percentile(inserts, 99))); "
            + "delete it: p50 \(micros(percentile(deletes, 50))), p99 \(micros(percentile(deletes, 99))); "
            + "delete an original edge: p50 \(micros(percentile(originalDeletes, 50))), p99 \(micros(percentile(originalDeletes, 99)))")
}

// `EngineBench [--quick] [w1] [w2] [memory] [facts] [w3] [w4] [simulate] [rollback] [pool] [ratios [--inputs DIR]]`:
// all workloads but ratios unless some are named (scripts/bench engine runs ratios through Benchmarks/duckdb).
let inputsIndex = arguments.firstIndex(of: "--inputs")
let inputs = inputsIndex.flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
let named = Set(arguments.indices.dropFirst().filter { !arguments[$0].hasPrefix("--") && $0 != inputsIndex.map { $0 + 1 } }.map { arguments[$0] })
func selected(_ name: String) -> Bool { named.isEmpty || named.contains(name) }
let sizes = quick ? [10_000] : [10_000, 100_000, 1_000_000]
if selected("w1") { for n in sizes { try w1(n: n, updates: quick ? 2_000 : 20_000) } }
if selected("w2") { try w2(n: quick ? 100_000 : 1_000_000) }
if selected("memory") { try memory(n: quick ? 100_000 : 1_000_000) }
if selected("facts") { try factsLoad(rows: quick ? 100_000 : 1_000_000) }
if selected("w3") { try w3(nodes: quick ? 1_000 : 2_000, edges: quick ? 3_000 : 6_000, samples: quick ? 3 : 10) }
if selected("simulate") { for n in sizes { try simulateWorkload(n: n, samples: quick ? 20 : 50) } }
if selected("rollback") { for n in sizes { try rollbackWorkload(n: n, samples: quick ? 3 : 5) } }
if selected("pool") { try poolMemoryWorkload(rows: quick ? 1_000 : 10_000, bytes: 4_096) }
if selected("w4") { try w4(scale: quick ? 4 : 1, samples: quick ? 5 : 20) }
if named.contains("ratios") { try ratios(quick: quick, inputs: inputs) }
