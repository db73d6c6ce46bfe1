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
}
