import PolicyEngine
import Testing

@testable import PolicyBus
import TestSupport

/// `policybus subscribe` writes its lines in pieces (`SubscribeLines`); they
/// must join to exactly what it printed when it built each line whole, as a
/// JSON tree and a string.
@Suite struct SubscribeLinesTests {
    static let table = TableID("alice:error")!

    /// The line as the CLI built it before, through a JSON tree (with its
    /// members in reading order) or a joined string, and its newline.
    static func wholeLine(_ table: TableID, _ event: TableSubscription.Event, json: Bool) -> String? {
        func ordered(_ members: [(String, JSON)]) -> String {
            "{" + members.map { "\(JSON.string($0.0).text):\($0.1.text)" }.joined(separator: ",") + "}"
        }
        func text(_ row: Row) -> String { row.map(\.description).joined(separator: ", ") }
        switch event {
        case .snapshot(let rows, let seq):
            let sorted = rows.sorted { $0.lexicographicallyPrecedes($1) }
            if json {
                return ordered([("table", .string(table.description)), ("kind", .string("snapshot")), ("seq", .int(Int64(seq))), ("rows", JSON(rows: sorted))]) + "\n"
            }
            return (["\(table) snapshot seq=\(seq) rows=\(rows.count)"] + sorted.map { "  \(table.name)(\(text($0)))" }).joined(separator: "\n") + "\n"
        case .delta(let added, let removed, let seq):
            if json {
                return ordered([
                    ("table", .string(table.description)), ("kind", .string("delta")), ("seq", .int(Int64(seq))),
                    ("added", JSON(rows: added)), ("removed", JSON(rows: removed)),
                ]) + "\n"
            }
            return (["\(table) delta seq=\(seq)"] + removed.map { "  -\(table.name)(\(text($0)))" } + added.map { "  +\(table.name)(\(text($0)))" })
                .joined(separator: "\n") + "\n"
        case .resync, .resumed:
            return nil
        }
    }

    static func randomValue(_ generator: inout SeededRandom) -> Value {
        switch Int.random(in: 0..<8, using: &generator) {
        case 0: .float([.nan, .infinity, -.infinity, 3.0, -0.0, 1e300, 5e-324][Int.random(in: 0..<7, using: &generator)])
        case 1: .string(String(repeating: "long \"quoted\" é\u{01} ", count: Int.random(in: 1...40, using: &generator)))
        default: DataMessageFastDecodingTests.randomValue(&generator)
        }
    }

    static func randomRows(_ generator: inout SeededRandom) -> [Row] {
        // Now and then more rows than one step of the writer (256).
        let count = Int.random(in: 0..<10, using: &generator) == 0 ? Int.random(in: 200...700, using: &generator) : Int.random(in: 0..<6, using: &generator)
        let width = Int.random(in: 0..<4, using: &generator)
        return (0..<count).map { _ in (0..<width).map { _ in randomValue(&generator) } }
    }

    @Test func piecesJoinToTheWholeLineOnRandomTables() throws {
        let seed = propertyTestSeed()
        print("SubscribeLinesTests seed \(seed) (rerun with TEST_SEED=\(seed))")
        var generator = SeededRandom(seed: seed)
        for round in 0..<400 {
            let seq = UInt64.random(in: 0...UInt64(Int64.max), using: &generator)
            let event: TableSubscription.Event = round % 2 == 0
                ? .snapshot(rows: Set(Self.randomRows(&generator)), seq: seq)
                : .delta(added: Self.randomRows(&generator), removed: Self.randomRows(&generator), seq: seq)
            let limit = Int.random(in: 1...4096, using: &generator)
            for json in [true, false] {
                var pieces: [[UInt8]] = []
                let printed = SubscribeLines.write(Self.table, event, json: json, pieceBytes: limit) { pieces.append($0) }
                #expect(printed, "seed \(seed) round \(round)")
                let joined = Array(pieces.joined())
                let whole = Array(try #require(Self.wholeLine(Self.table, event, json: json)).utf8)
                if joined != whole {
                    // Where they part, not two whole lines of up to 100 KB.
                    let at = zip(joined, whole).prefix { $0 == $1 }.count
                    let near = { (bytes: [UInt8]) in String(decoding: bytes[max(0, at - 40)..<min(bytes.count, at + 40)], as: UTF8.self) }
                    Issue.record("seed \(seed) round \(round) json \(json): byte \(at) of \(whole.count) differs: \(near(joined)) against \(near(whole))")
                }
            }
        }
    }

    /// A large snapshot goes in pieces of about the limit, not as one line.
    @Test func aLargeSnapshotIsWrittenInBoundedPieces() {
        let rows = Set((0..<20_000).map { [Value.string("vm-\($0)"), .int(Int64($0))] })
        for json in [true, false] {
            var pieces: [Int] = []
            _ = SubscribeLines.write(Self.table, .snapshot(rows: rows, seq: 7), json: json, pieceBytes: 4096) { pieces.append($0.count) }
            #expect(pieces.count > 20, "json \(json)")
            // At most the limit and one step of the writer's rows (256 rows of under 40 bytes).
            #expect(pieces.max()! < 4096 + 256 * 40, "json \(json)")
        }
    }

    @Test func resyncsAndResumesPrintNoLine() {
        for event: TableSubscription.Event in [.resync(.gap), .resumed(seq: 3)] {
            var pieces = 0
            #expect(!SubscribeLines.write(Self.table, event, json: true) { _ in pieces += 1 })
            #expect(pieces == 0)
        }
    }
}
