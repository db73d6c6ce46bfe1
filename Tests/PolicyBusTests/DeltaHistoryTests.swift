import PolicyEngine
import Testing

@testable import PolicyBus

/// A table's recent deltas: bounded by count and bytes, and served only
/// when every delta after the asked seq is still there.
@Suite struct DeltaHistoryTests {
    func delta(_ seq: UInt64) -> DeltaHistory.Delta { .init(seq: seq, added: [[.int(Int64(seq))]], removed: []) }

    @Test func keepsTheLatestByCount() {
        var history = DeltaHistory(bounds: .init(deltas: 3, bytes: 1000))
        for seq in 1...5 as ClosedRange<UInt64> { history.append(delta(seq), size: 10) }
        #expect(history.count == 3)
        #expect(history.deltas(after: 2, current: 5)?.map(\.seq) == [3, 4, 5])
        #expect(history.deltas(after: 4, current: 5)?.map(\.seq) == [5])
        #expect(history.deltas(after: 5, current: 5)?.isEmpty == true)
        #expect(history.deltas(after: 1, current: 5) == nil)  // delta 2 is gone
        #expect(history.deltas(after: 6, current: 5) == nil)  // ahead of the table
    }

    @Test func keepsTheLatestByBytes() {
        var history = DeltaHistory(bounds: .init(deltas: 100, bytes: 25))
        for seq in 1...4 as ClosedRange<UInt64> { history.append(delta(seq), size: 10) }
        #expect(history.count == 2)
        #expect(history.bytes == 20)
        #expect(history.deltas(after: 2, current: 4)?.map(\.seq) == [3, 4])
        // A delta larger than the bound empties the history: nothing to resume from.
        history.append(delta(5), size: 30)
        #expect(history.count == 0)
        #expect(history.deltas(after: 4, current: 5) == nil)
    }

    @Test func manyAppendsStayBoundedAndInOrder() {
        var history = DeltaHistory(bounds: .init(deltas: 2000, bytes: 1 << 30))
        for seq in 1...10_000 as ClosedRange<UInt64> { history.append(delta(seq), size: 1) }
        #expect(history.count == 2000)
        #expect(history.deltas(after: 8000, current: 10_000)?.map(\.seq) == Array(8001...10_000))
        #expect(history.deltas(after: 7999, current: 10_000) == nil)
    }

    @Test func noHistoryWhenTheBoundIsZero() {
        var history = DeltaHistory(bounds: .init(deltas: 0, bytes: 1000))
        history.append(delta(1), size: 1)
        #expect(history.deltas(after: 0, current: 1) == nil)
    }

    /// The publisher keeps a table's history while it is published, in its epoch.
    @Test func thePublisherServesDeltasSinceASeqInItsEpoch() {
        var publisher = TablePublisher(node: "n", history: .init(deltas: 10, bytes: 1 << 20))
        let table = TableID("n:t")!
        publisher.open(table)
        for value in 1...3 as ClosedRange<Int64> { _ = publisher.publish(table, added: [[.int(value)]], removed: []) }
        #expect(publisher.deltas(of: table, since: 1, epoch: publisher.epoch)?.map(\.seq) == [2, 3])
        #expect(publisher.deltas(of: table, since: 1, epoch: "another") == nil)
        publisher.close(table)
        publisher.open(table)
        #expect(publisher.deltas(of: table, since: 3, epoch: publisher.epoch) == nil)  // reopened: seq bumped, history gone
    }

    /// The bytes bound holds for all of a node's tables together: a busy
    /// table's history pushes out the oldest deltas of the largest ones, and
    /// each table still serves what it kept.
    @Test func theBytesBoundHoldsForAllTablesTogether() {
        var publisher = TablePublisher(node: "n", history: .init(deltas: 1000, bytes: 4096))
        let tables = (0..<5).map { TableID("n:t\($0)")! }
        for table in tables { publisher.open(table) }
        for value in 1...200 as ClosedRange<Int64> {
            for (position, table) in tables.enumerated() where position == 0 || value % Int64(position + 1) == 0 {
                _ = publisher.publish(table, added: [[.int(value)]], removed: [])
                #expect(publisher.historyBytes <= 4096)
            }
        }
        #expect(publisher.historyBytes > 4096 / 2, "the bound is used, not emptied")
        for table in tables {
            let seq = publisher.seq(table) ?? 0
            // The newest delta of every table is kept; nothing older than what is kept is claimed.
            #expect(publisher.deltas(of: table, since: seq - 1, epoch: publisher.epoch)?.map(\.seq) == [seq])
            #expect(publisher.deltas(of: table, since: 0, epoch: publisher.epoch) == nil)
        }
        publisher.close(tables[0])
        let left = publisher.historyBytes
        #expect(left < 4096)
        publisher.open(tables[0])
        #expect(publisher.historyBytes == left)
    }
}
