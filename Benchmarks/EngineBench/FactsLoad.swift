import Foundation
import PolicyEngine

// Facts: `eval`'s facts file of N rows (nova:servers(vm, host, cores)), read
// straight into an engine's ids (eval's path), into rows of values, and by the
// loader the shared reader replaced (JSONSerialization, telling ints from
// floats by objCType), in the same run. Then eval's read and load into an
// engine: its CPU time, and its peak resident growth against the engine's own
// footprint for those rows.

func factsText(rows: Int) -> [UInt8] {
    var text = "{\"nova:servers\": ["
    text.reserveCapacity(rows * 32)
    for index in 0..<rows {
        if index > 0 { text += ",\n" }
        text += "[\"vm\(index)\", \"h\(index % 1000)\", \(index % 64)]"
    }
    text += "]}"
    return Array(text.utf8)
}

/// The facts loader before the shared reader, kept here as the baseline.
func baselineParseFacts(_ data: Data) throws -> [(table: String, rows: [[Value]])] {
    guard let tables = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw CocoaError(.coderReadCorrupt) }
    var result: [(table: String, rows: [[Value]])] = []
    for name in tables.keys.sorted() {
        guard let rows = tables[name] as? [Any] else { throw CocoaError(.coderReadCorrupt) }
        var parsed: [[Value]] = []
        for row in rows {
            guard let cells = row as? [Any] else { throw CocoaError(.coderReadCorrupt) }
            parsed.append(try cells.map { cell in
                if let string = cell as? String { return .string(string) }
                guard let number = cell as? NSNumber else { throw CocoaError(.coderReadCorrupt) }
                switch String(cString: number.objCType) {
                case "d", "f": return .float(number.doubleValue)
                default: return .int(number.int64Value)
                }
            })
        }
        result.append((name, parsed))
    }
    return result
}

/// The peak resident set (VmHWM) in bytes; `resetPeak()` starts a new peak.
func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    else { return 0 }
    return kilobytes * 1024
}

func resetPeak() {
    // Writing 5 to clear_refs resets VmHWM to the current resident set (Linux).
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

func factsLoad(rows: Int) throws {
    try factsRead(rows: rows)
    try factsLoadAndPeak(rows: rows)
}

func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }

func rowRate(_ rows: Int, _ nanos: UInt64) -> String { String(format: "%.2fM rows/s", Double(rows) / Double(nanos) * 1000) }

/// Reading alone: into the engine's ids, into rows of values, and the JSONSerialization baseline.
func factsRead(rows: Int) throws {
    func rate(_ nanos: UInt64) -> String { rowRate(rows, nanos) }
    let bytes = factsText(rows: rows)

    // Reading alone, each reader twice; the second run counts. Thread CPU
    // time, so that other processes on a busy machine do not inflate it.
    var interned: UInt64 = 0
    var shared: UInt64 = 0
    var baseline: UInt64 = 0
    for _ in 0..<2 {
        var start = cpuNow()
        let read = try OfflineEvaluation.readFacts(bytes)
        interned = cpuNow() - start
        precondition(read.rowCount == rows)
        start = cpuNow()
        let facts = try OfflineEvaluation.parseFacts(bytes)
        shared = cpuNow() - start
        precondition(facts[0].rows.count == rows)
        let data = Data(bytes)
        start = cpuNow()
        let old = try baselineParseFacts(data)
        baseline = cpuNow() - start
        precondition(old[0].rows == facts[0].rows)
    }
    print("facts    read \(rows) rows (\(megabytes(bytes.count)), CPU time): into the engine's ids (eval's path) \(millis(interned)), \(rate(interned)); "
        + "into rows of values \(millis(shared)), \(rate(shared)); "
        + "baseline JSONSerialization \(millis(baseline)), \(rate(baseline)) (\(String(format: "%.1f", Double(baseline) / Double(interned)))x slower)")
}

/// Reading and loading into an engine, and the peak memory of eval's path against the engine's own footprint.
func factsLoadAndPeak(rows: Int) throws {
    func rate(_ nanos: UInt64) -> String { rowRate(rows, nanos) }
    let policy = OfflineEvaluation.PolicySource(name: "alice", text: "big(vm) :- nova:servers(vm, host, cores), cores > 60")
    var footprint = 0
    do {
        let bytes = factsText(rows: rows)
        // The engine's own footprint for the rows: its resident growth while the parsed rows stay alive.
        let facts = try OfflineEvaluation.parseFacts(bytes)
        let before = residentBytes()
        let engine = Engine()
        var transaction = Transaction()
        for row in facts[0].rows { transaction.insert(row, into: servers) }
        try engine.apply(transaction)
        transaction = Transaction()
        footprint = residentBytes() - before
        withExtendedLifetime((engine, facts)) {}

        // Reading and loading alone: no rule reads the table.
        var loadTime: UInt64 = 0
        for _ in 0..<2 {
            let start = cpuNow()
            let loaded = try OfflineEvaluation.load(policies: [], facts: try OfflineEvaluation.readFacts(bytes))
            loadTime = cpuNow() - start
            precondition(loaded.count(of: servers) == rows)
        }
        print("facts    read and load into an engine (no rules), CPU time \(millis(loadTime)), \(rate(loadTime))")
    }

    // What eval does: read the file's bytes into the engine, free them, and
    // evaluate. The file's bytes count from the start, as eval reads them.
    // (Freed heap is given back first, so that the peak counts what the load takes.)
    var file: [UInt8]? = factsText(rows: rows)
    let fileSize = file!.count
    _ = residentBytes()
    resetPeak()
    let peakBase = peakResidentBytes()
    let start = cpuNow()
    let read = try OfflineEvaluation.readFacts(file!)
    file = nil
    let engine = try OfflineEvaluation.load(policies: [policy], facts: read)
    let loaded = cpuNow() - start
    let peak = peakResidentBytes() - peakBase + fileSize
    let big = engine.count(of: TableID(service: "alice", name: "big"))
    print("facts    read, load and evaluate (\(big) results), CPU time \(millis(loaded)), \(rate(loaded)); peak resident growth \(megabytes(peak)) including the file, "
        + "the engine's own footprint for the rows \(megabytes(footprint)), ratio \(String(format: "%.2f", Double(peak) / Double(max(footprint, 1))))")
}
