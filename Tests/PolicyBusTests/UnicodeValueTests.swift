import Foundation
import PolicyBus
import PolicyEngine
import Testing
import TestSupport

extension ProcessSuites {
    /// Issue 14: strings keep their Unicode scalars on every bus path (nothing
    /// normalised in or out), and compare by them. `JSON ==` and `Set<[JSON]>`
    /// compare strings by canonical equivalence, so these tests compare scalars.
    @Suite(.serialized) struct UnicodeValueTests {
        static let table = TableID("d:t")!

        static func randomRows(_ random: inout SeededRandom, count: Int) -> [Row] {
            (0..<count).map { _ in [.string(random.trickyString()), .string(random.trickyString())] }
        }

        @Test func trickyStringsCrossTheWireUnchanged() throws {
            let seed = UInt64.random(in: 0...UInt64.max)
            print("UnicodeValueTests.trickyStringsCrossTheWireUnchanged seed: \(seed)")
            var random = SeededRandom(seed: seed)
            for _ in 0..<300 {
                let rows = Self.randomRows(&random, count: Int.random(in: 1...6, using: &random))
                // DataMessage == compares rows as values: by scalars.
                let delta = DataMessage.delta(.init(table: Self.table, publisher: "p", epoch: "e", seq: 1, added: rows, removed: []))
                #expect(try DataMessage(decoding: delta.encoded()) == delta, "seed \(seed)")
                let spaced = "d:t {\"type\": \"delta\", \"pub\": \"p\", \"epoch\": \"e\", \"seq\": 1, \"added\": \(JSON(rows: rows).text), \"removed\": []}"
                #expect(try DataMessage(decoding: Array(spaced.utf8)) == delta, "seed \(seed)")
                let escaped = "[" + rows.map { row in "[" + row.map { jsonEscapedEverywhere(text($0)) }.joined(separator: ",") + "]" }.joined(separator: ",") + "]"
                let request = try ControlRequest(frame: Array(#"{"op":"facts","action":"insert","table":"d:t","rows":\#(escaped)}"#.utf8))
                #expect(try request.rows("rows", limits: BusLimits()) == rows, "seed \(seed)")
            }
        }

        /// Through real processes: a data source serves tricky strings from its
        /// facts file, an engine negates over them, takes more through the
        /// control API into its durable log, and has the same after a restart.
        @Test func trickyStringsThroughPublishServeTheLogAndQuery() async throws {
            let seed = UInt64.random(in: 0...UInt64.max)
            print("UnicodeValueTests.trickyStringsThroughPublishServeTheLogAndQuery seed: \(seed)")
            var random = SeededRandom(seed: seed)
            let served = (0..<60).map { _ in [Value.string(random.trickyString())] } + ["\u{E9}", "e\u{301}", "\u{C5}", "\u{212B}"].map { [Value.string($0)] }
            // Random bans, but never the composed é and Å, whose decomposed twins are banned below.
            let banned = (0..<20).map { _ in [Value.string(random.trickyString())] }.filter { ![[.string("\u{E9}")], [.string("\u{C5}")]].contains($0) }
                + ["e\u{301}", "\u{212B}"].map { [Value.string($0)] }
            let posted = Self.randomRows(&random, count: 60) + [[.string("\u{E9}"), .string("e\u{301}")], [.string("e\u{301}"), .string("\u{E9}")]]
            let facts = try temporaryFile("{\"t\": \(JSON(rows: served).text), \"banned\": \(JSON(rows: banned).text)}", suffix: ".json")
            let policy = try temporaryFile("n(x) :- d:t(x), not d:banned(x)")
            let dataDir = NSTemporaryDirectory() + "policybus-unicode-\(UUID().uuidString)"
            defer { for path in [facts, policy, dataDir] { try? FileManager.default.removeItem(atPath: path) } }
            let expectedN = Self.scalars(served.filter { !banned.contains($0) })
            // The composed spellings stay: only their decomposed twins are banned.
            #expect(expectedN.contains([[0xE9]]) && expectedN.contains([[0xC5]]) && !expectedN.contains([[0x65, 0x301]]))
            try await withProcesses { processes in
                let (_, source) = try await processes.dataSource("d", extra: ["--facts", facts])
                func serve() async throws -> (BusProcess, String) {
                    let process = try processes.start(
                        "E", ["serve", "--name", "E", "--control", "tcp://127.0.0.1:*", "--data-dir", dataDir, "--policy", "c=\(policy)",
                              "--peer", "d=\(source)", "--heartbeat-ms", "200"])
                    return (process, try await process.endpoints().control)
                }
                let (engine, endpoint) = try await serve()
                _ = try await request(endpoint, "facts", ["action": .string("insert"), "table": .string("c:q"), "rows": JSON(rows: posted)])
                try await expectRows(endpoint, "c:n", expectedN, "seed \(seed)")
                try await expectRows(endpoint, "c:q", Self.scalars(posted), "seed \(seed)")
                engine.stop()
                let (_, restarted) = try await serve()
                try await expectRows(restarted, "c:q", Self.scalars(posted), "seed \(seed): after replaying the log")
                try await expectRows(restarted, "c:n", expectedN, "seed \(seed): after a restart")
            }
        }

        /// `publish` reading `+table(...)` lines on stdin: tricky strings and
        /// int64s (edges included) are served exactly as written.
        @Test func trickyStringsAndIntegersThroughPublishStdin() async throws {
            let seed = UInt64.random(in: 0...UInt64.max)
            print("UnicodeValueTests.trickyStringsAndIntegersThroughPublishStdin seed: \(seed)")
            var random = SeededRandom(seed: seed)
            let rows: [Row] = (0..<100).map { _ in [.string(random.trickyString()), .int(random.int64())] }
                + SeededRandom.edgeIntegers.map { [.string("\u{E9}"), .int($0)] } + [[.string("e\u{301}"), .int(.min)]]
            try await withProcesses { processes in
                let (source, endpoint) = try await processes.dataSource("d")
                source.write(rows.map { "+t(\(JSON(rows: [$0]).text.dropFirst(2).dropLast(2)))" }.joined(separator: "\n"))
                let expected = Set(rows.map(Self.key))
                var last: Set<String> = []
                _ = try await eventually("d:t to serve \(expected.count) rows (seed \(seed)); last \(last.count)") { () async -> Bool? in
                    // unknown-table until the data source has read the first line.
                    guard let reply = try? await request(endpoint, "query", ["query": .string("d:t")]) else { return nil }
                    last = Set((reply["rows"]?.arrayValue ?? []).map { Self.key(($0.arrayValue ?? []).map(Self.value)) })
                    return last == expected ? true : nil
                }
            }
        }

        /// A row as ASCII text that tells apart exactly what values tell apart.
        static func key(_ row: Row) -> String {
            row.map { value in
                if case .string(let text) = value { return "s" + text.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: ".") }
                return "\(value)"
            }.joined(separator: "|")
        }

        static func value(_ json: JSON) -> Value {
            switch json {
            case .string(let text): .string(text)
            case .int(let number): .int(number)
            default: .string("\u{0}unexpected \(json)")
            }
        }

        /// Waits until `query` answers `expected` (distinct rows by scalars, in
        /// code point order, as the engine sorts them).
        func expectRows(_ endpoint: String, _ query: String, _ expected: [[[UInt32]]], _ comment: String) async throws {
            var last: [[[UInt32]]] = []
            _ = try await eventually("\(query) to answer \(expected.count) rows by scalars (\(comment)); last answer had \(last.count)") {
                () async -> Bool? in
                guard let reply = try? await request(endpoint, "query", ["query": .string(query)]) else { return nil }
                last = (reply["rows"]?.arrayValue ?? []).map { row in
                    (row.arrayValue ?? []).map { Array(($0.stringValue ?? "\u{0}not a string").unicodeScalars.map(\.value)) }
                }
                return last == expected ? true : nil
            }
        }

        /// Distinct rows as scalar arrays, in the order the engine sorts them.
        static func scalars(_ rows: [Row]) -> [[[UInt32]]] {
            let distinct = Set(rows.map { $0.map { Array(text($0).unicodeScalars.map(\.value)) } })
            return distinct.sorted { $0.lexicographicallyPrecedes($1) { $0.lexicographicallyPrecedes($1) } }
        }
    }
}

private func text(_ value: Value) -> String {
    if case .string(let text) = value { return text }
    return "\(value)"
}
