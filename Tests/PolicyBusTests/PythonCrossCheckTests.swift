import Foundation
import PolicyEngine
import Testing
import TestSupport

private let python3: String? = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Issue 14: the value semantics checked against Python itself (Congress's
/// builtins are Python's): `policybus eval` over random tricky strings and
/// integers, then Python recomputes each table from the same facts and
/// compares, exactly (`repr`, so `1` and `1.0` differ), and in order for
/// strings. Skipped where there is no `python3`.
@Suite(.serialized, .enabled(if: python3 != nil)) struct PythonCrossCheckTests {
    static let policy = """
        l(x, y) :- s(x), s(y), x < y
        k(x, n) :- s(x), len(x, n)
        e(x, y) :- s(x), s(y), x = y
        d(a, b, q) :- i(a, b), b != 0, div(a, b, q)
        o(a, b, q) :- i(a, b), b != 0, q = a / b
        g(a, f) :- m(a, f), a > f
        x(a, f, z) :- m(a, f), max(a, f, z)
        """

    /// Prints the differences between Python's answers and eval's, as JSON; `[]` when none.
    static let script = #"""
        import json, sys
        facts = json.load(open(sys.argv[1], encoding="utf-8"))
        tables = json.load(open(sys.argv[2], encoding="utf-8"))["tables"]
        s = [row[0] for row in facts["s"]]
        pairs = [tuple(row) for row in facts["i"]]
        mixed = [tuple(row) for row in facts["m"]]
        def distinct(rows):
            seen, out = set(), []
            for row in rows:
                key = repr(row)
                if key not in seen:
                    seen.add(key)
                    out.append(row)
            return out
        expected = {
            "a:l": sorted(distinct((x, y) for x in s for y in s if x < y)),
            "a:k": sorted(distinct((x, len(x)) for x in s)),
            "a:e": sorted(distinct((x, y) for x in s for y in s if x == y)),
            "a:d": distinct((a, b, a // b) for a, b in pairs if b != 0),
            "a:o": distinct((a, b, a // b) for a, b in pairs if b != 0),
            "a:g": distinct((a, f) for a, f in mixed if a > f),
            "a:x": distinct((a, f, max(a, f)) for a, f in mixed),
        }
        problems = []
        for table, rows in expected.items():
            got = [tuple(row) for row in tables.get(table, [])]
            if table in ("a:l", "a:k", "a:e"):
                if got != rows:
                    problems.append([table, "order or rows", repr(got[:5]), repr(rows[:5])])
            elif sorted(map(repr, got)) != sorted(map(repr, rows)):
                problems.append([table, "rows", repr(sorted(map(repr, got))[:5]), repr(sorted(map(repr, rows))[:5])])
        print(json.dumps(problems))
        """#

    @Test func evalAgreesWithPython() async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("PythonCrossCheckTests.evalAgreesWithPython seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let strings = (0..<40).map { _ in [Value.string(random.trickyString())] }
        // Divisors include negatives and the edges; int64 min // -1 overflows in the engine (no row) but not in
        // Python, so that one pair is left out.
        let pairs = (0..<200).map { _ in [Value.int(random.int64()), .int(random.int64() >> Int64(random.next() % 64))] }
            .filter { $0 != [.int(.min), .int(-1)] }
        let near = [Int64(1) << 53, (1 << 53) + 1, (1 << 53) - 1, .max, .min, 0, -1, 3]
        let mixed = (0..<100).map { _ -> [Value] in
            let base = near.randomElement(using: &random)!
            let moved = base.addingReportingOverflow(Int64.random(in: -1...1, using: &random))
            let int = moved.overflow ? base : moved.partialValue
            let float = Double(near.randomElement(using: &random)!) + [0, 0.5, -0.5, 1, -1][Int.random(in: 0..<5, using: &random)]
            return [.int(int), .float(float)]
        }
        let facts = "{\"s\": \(JSON(rows: strings).text), \"i\": \(JSON(rows: pairs).text), \"m\": \(JSON(rows: mixed).text)}"
        let directory = try temporaryDirectory(["p.pol": Self.policy, "facts.json": facts, "check.py": Self.script])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let eval = try await runPolicybus(["eval", directory + "/p.pol", "--facts", directory + "/facts.json", "--policy-name", "a", "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        try eval.stdout.write(toFile: directory + "/out.json", atomically: true, encoding: .utf8)
        let problems = try await offPool { try Self.runPython([directory + "/check.py", directory + "/facts.json", directory + "/out.json"]) }
        #expect(problems.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "seed \(seed): \(problems)")
    }

    static func runPython(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python3!)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self) + (process.terminationStatus == 0 ? "" : " (python exited \(process.terminationStatus))")
    }
}
