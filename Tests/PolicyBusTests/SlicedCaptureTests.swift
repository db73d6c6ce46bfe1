import Foundation
import PolicyEngine
import Testing
import TestSupport

@testable import PolicyBus

/// Snapshots sorted a step at a time while their table changes (issues 12
/// and 13: no capture holds the loop past its budget). Whatever changes the
/// table between the steps, the capture is the table at its seq, sorted.
@Suite struct SlicedCaptureTests {
    static let table = TableID("data:q")!

    static func row(_ random: inout SeededRandom, keys: Int) -> Row {
        [.int(Int64.random(in: 0..<Int64(keys), using: &random)), random.next() % 3 == 0 ? .float(0.5) : .string(random.trickyString(maxPieces: 2))]
    }

    static func sorted(_ rows: some Sequence<Row>) -> [Row] { rows.sorted { $0.lexicographicallyPrecedes($1) } }

    /// Steps a capture to its end with `change` called between the steps;
    /// the capture's rows then.
    static func stepped(_ captures: inout SnapshotCaptures, _ id: String, between change: () throws -> Void) rethrows -> [Row] {
        while !captures.isDone(id) {
            try change()
            _ = captures.step()
        }
        return captures.captures[id]!.rows
    }

    /// A data source's table (the publisher's set): random inserts and
    /// deletes between the steps of its capture.
    @Test func aDataSourceCaptureIsItsTableAtItsSeq() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("SlicedCaptureTests data source seed \(seed)")
        var random = SeededRandom(seed: seed)
        for round in 0..<8 {
            let keys = Int.random(in: 1...20_000, using: &random)
            var publisher = TablePublisher(node: "data")
            publisher.open(Self.table, rows: (0..<Int.random(in: 0...12_000, using: &random)).map { _ in Self.row(&random, keys: keys) })
            let (seq, atSeq, _) = try #require(publisher.snapshot(Self.table))
            var captures = SnapshotCaptures(chunkBytes: 1024, idleNanoseconds: 1_000_000_000)
            let id = try captures.capture(of: Self.table, seq: seq, now: 0) { RowSource(publisher.snapshot(Self.table)!.rows) }
            let captured = Self.stepped(&captures, id) {
                let added = (0..<Int.random(in: 0...50, using: &random)).map { _ in Self.row(&random, keys: keys) }
                let current = publisher.snapshot(Self.table)!.rows
                let removed = current.isEmpty ? [] : (0..<Int.random(in: 0...50, using: &random)).map { _ in current.randomElement(using: &random)! }
                _ = publisher.publish(Self.table, added: added, removed: removed)
            }
            #expect(captured == Self.sorted(atSeq), "seed \(seed), round \(round): \(captured.count) rows captured, \(atSeq.count) at seq \(seq)")
        }
    }

    /// An engine's table: transactions that insert and delete facts between
    /// the steps of its capture, some deleting most rows (the store is then
    /// renumbered, `RowStore.compact`).
    @Test func anEngineCaptureIsItsTableAtItsSeq() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("SlicedCaptureTests engine seed \(seed)")
        var random = SeededRandom(seed: seed)
        let table = TableID("nova:q")!
        for round in 0..<6 {
            let engine = Engine()
            let keys = Int.random(in: 1...20_000, using: &random)
            var start = Transaction()
            for _ in 0..<Int.random(in: 0...12_000, using: &random) { start.insert(Self.row(&random, keys: keys), into: table) }
            try engine.apply(start) {}
            let atCapture = engine.rows(of: table)
            var captures = SnapshotCaptures(chunkBytes: 1024, idleNanoseconds: 1_000_000_000)
            let id = try captures.capture(of: table, seq: 1, now: 0) { RowSource(engine.frozenRows(of: table)) }
            let captured = try Self.stepped(&captures, id) {
                var change = Transaction()
                let current = engine.rows(of: table)
                let deleting = random.next() % 10 == 0 ? current.count * 9 / 10 : Int.random(in: 0...50, using: &random)
                for row in current.shuffled(using: &random).prefix(deleting) { change.delete(row, from: table) }
                for _ in 0..<Int.random(in: 0...50, using: &random) { change.insert(Self.row(&random, keys: keys), into: table) }
                try engine.apply(change) {}
            }
            #expect(captured == atCapture, "seed \(seed), round \(round): \(captured.count) rows captured, \(atCapture.count) at capture")
        }
    }

    /// A table has at most `perTable` captures at once; one more is `busy`,
    /// and another table is not affected.
    @Test func aTableHoldsAtMostItsCaptures() throws {
        let rows = Set((0..<20_000).map { [Value.int(Int64($0))] })
        var captures = SnapshotCaptures(chunkBytes: 1024, idleNanoseconds: 1_000_000_000, perTable: 2)
        _ = try captures.capture(of: Self.table, seq: 1, now: 0) { RowSource(rows) }
        _ = try captures.capture(of: Self.table, seq: 2, now: 0) { RowSource(rows) }
        _ = try captures.capture(of: Self.table, seq: 2, now: 0) { RowSource(rows) }
        do {
            _ = try captures.capture(of: Self.table, seq: 3, now: 0) { RowSource(rows) }
            Issue.record("a third capture of one table")
        } catch {
            #expect(error.code == .busy)
        }
        _ = try captures.capture(of: TableID("data:other")!, seq: 3, now: 0) { RowSource(rows) }
        #expect(captures.count == 3)
    }
}
