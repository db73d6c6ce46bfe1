import Foundation
import PolicyEngine

// Ratios: the workloads issue 15 compares with DuckDB, evaluated through the
// engine (full evaluation, one `Engine.load` of rules and facts). With
// `--inputs DIR` each workload's inputs are also written there, for
// Benchmarks/duckdb/ratios.py to give the same inputs to `policybus eval`
// (NAME.policy, NAME.facts.json) and to DuckDB (NAME.*.csv). Each workload
// prints one line `ratios {json}` that the script reads.

/// One workload: a policy, its facts, and the table whose rows are counted.
struct RatioWorkload {
    var name: String
    var rules: String
    var facts: [(table: String, rows: [[Value]])]
    var result: String
}

/// Edges as rows of two integers.
func edgeRows(_ edges: [[Int]]) -> [[Value]] { edges.map { [.int(Int64($0[0])), .int(Int64($0[1]))] } }

func chain(_ nodes: Int) -> [[Int]] { (0..<(nodes - 1)).map { [$0, $0 + 1] } }

let linearClosure = "path(x, y) :- edge(x, y)\npath(x, z) :- path(x, y), edge(y, z)"

func ratioWorkloads(quick: Bool) -> [RatioWorkload] {
    // W3's graph, from W3's seed.
    var random = Random(state: 42)
    let w3Graph = randomGraph(nodes: quick ? 1_000 : 2_000, edges: quick ? 3_000 : 6_000, random: &random)
    var sgRandom = Random(state: 11)
    let sgGraph = randomGraph(nodes: quick ? 1_000 : 2_000, edges: quick ? 1_300 : 2_600, random: &sgRandom)
    let servers = quick ? 100_000 : 1_000_000
    let hosts = servers / 10
    // Nine hosts in ten are allowed: a tenth of the servers are errors.
    let serverRows: [[Value]] = (0..<servers).map { [.string("vm\($0)"), .string("h\($0 % hosts)")] }
    let allowedRows: [[Value]] = (0..<hosts).filter { $0 % 10 != 0 }.map { [.string("h\($0)")] }
    let chainLength = quick ? 500 : 1_000
    let nonLinearLength = quick ? 200 : 400
    return [
        RatioWorkload(name: "tc", rules: linearClosure, facts: [("edge", edgeRows(w3Graph))], result: "path"),
        RatioWorkload(name: "tc_chain", rules: linearClosure, facts: [("edge", edgeRows(chain(chainLength)))], result: "path"),
        RatioWorkload(
            name: "nonlinear_tc", rules: "path(x, y) :- edge(x, y)\npath(x, z) :- path(x, y), path(y, z)",
            facts: [("edge", edgeRows(chain(nonLinearLength)))], result: "path"),
        RatioWorkload(
            name: "same_generation",
            rules: "sg(x, y) :- edge(p, x), edge(p, y), x != y\nsg(x, y) :- edge(a, x), sg(a, b), edge(b, y)",
            facts: [("edge", edgeRows(sgGraph))], result: "sg"),
        RatioWorkload(
            name: "join_negation", rules: "error(vm) :- servers(vm, host), not allowed(host)",
            facts: [("servers", serverRows), ("allowed", allowedRows)], result: "error"),
    ]
}

/// Writes the workload's policy, facts file and one CSV per facts table.
func writeInputs(_ workload: RatioWorkload, to directory: String) throws {
    try (workload.rules + "\n").write(toFile: "\(directory)/\(workload.name).policy", atomically: false, encoding: .utf8)
    var json = "{"
    for (index, (table, rows)) in workload.facts.enumerated() {
        json += (index > 0 ? ",\n" : "") + "\"\(table)\": ["
        var csv = ""
        for (position, row) in rows.enumerated() {
            json += (position > 0 ? ",\n" : "") + "[" + row.map(jsonCell).joined(separator: ", ") + "]"
            csv += row.map(csvCell).joined(separator: ",") + "\n"
        }
        json += "]"
        try csv.write(toFile: "\(directory)/\(workload.name).\(table).csv", atomically: false, encoding: .utf8)
    }
    json += "}\n"
    try json.write(toFile: "\(directory)/\(workload.name).facts.json", atomically: false, encoding: .utf8)
}

/// The benchmark's values are integers and plain strings (no quotes or escapes).
private func jsonCell(_ value: Value) -> String {
    if case .string(let text) = value { return "\"\(text)\"" }
    return value.description
}

private func csvCell(_ value: Value) -> String {
    if case .string(let text) = value { return text }
    return value.description
}

func ratios(quick: Bool, inputs: String?) throws {
    for workload in ratioWorkloads(quick: quick) {
        if let inputs { try writeInputs(workload, to: inputs) }
        let engine = Engine()
        try engine.createPolicy(workload.name)
        var transaction = Transaction()
        transaction.insertRules(workload.rules, policy: workload.name)
        for (table, rows) in workload.facts {
            let id = TableID(service: workload.name, name: table)
            for row in rows { transaction.insert(row, into: id) }
        }
        let start = now()
        let cpuStart = cpuNow()
        try engine.load(transaction)
        let cpu = cpuNow() - cpuStart
        let wall = now() - start
        let facts = workload.facts.reduce(0) { $0 + $1.rows.count }
        let rows = engine.count(of: TableID(service: workload.name, name: workload.result))
        print(
            "ratios {\"workload\": \"\(workload.name)\", \"facts\": \(facts), \"table\": \"\(workload.result)\", \"rows\": \(rows), "
                + "\"engine_cpu_s\": \(Double(cpu) / 1e9), \"engine_wall_s\": \(Double(wall) / 1e9)}")
    }
}
