import PolicyEngine
import Testing

@testable import PolicyBus

@Suite struct TablePublisherTests {
    let table = TableID("nova:servers")!

    func decode(_ frame: [UInt8]?) throws -> DataMessage.Delta {
        let frame = try #require(frame)
        guard case .delta(let delta) = try DataMessage(decoding: frame) else {
            Issue.record("not a delta")
            throw BusError(.internal, "not a delta")
        }
        return delta
    }

    @Test func seqGrowsByOnePerDelta() throws {
        var publisher = TablePublisher(node: "nova", epoch: "e1")
        publisher.open(table)
        #expect(publisher.snapshot(table)?.seq == 0)
        let first = try decode(publisher.publish(table, added: [[.string("vm1")]], removed: []))
        #expect(first.seq == 1)
        #expect(first.publisher == "nova")
        #expect(first.epoch == "e1")
        let second = try decode(publisher.publish(table, added: [[.string("vm2")]], removed: [[.string("vm1")]]))
        #expect(second.seq == 2)
        #expect(second.added == [[.string("vm2")]])
        #expect(second.removed == [[.string("vm1")]])
        #expect(publisher.snapshot(table)?.rows == [[.string("vm2")]])
    }

    @Test func noOpChangesPublishNothing() {
        var publisher = TablePublisher(node: "nova")
        publisher.open(table, rows: [[.int(1)]])
        #expect(publisher.publish(table, added: [[.int(1)]], removed: [[.int(2)]]) == nil)
        #expect(publisher.snapshot(table)?.seq == 0)
        let unknown = TableID("nova:other")!
        #expect(publisher.publish(unknown, added: [[.int(1)]], removed: []) == nil)
    }

    @Test func replaceTurnsAFullTableIntoADelta() throws {
        var publisher = TablePublisher(node: "nova")
        publisher.open(table, rows: [[.int(1)], [.int(2)]])
        let delta = try decode(publisher.replace(table, with: [[.int(2)], [.int(3)]]))
        #expect(delta.added == [[.int(3)]])
        #expect(delta.removed == [[.int(1)]])
        #expect(publisher.snapshot(table)?.rows == [[.int(2)], [.int(3)]])
        #expect(publisher.replace(table, with: [[.int(3)], [.int(2)]]) == nil)
    }

    @Test func closedTablesKeepTheirSeq() throws {
        var publisher = TablePublisher(node: "eng")
        publisher.open(table)
        _ = publisher.publish(table, added: [[.int(1)]], removed: [])
        publisher.close(table)
        #expect(publisher.snapshot(table) == nil)
        #expect(publisher.heartbeats().isEmpty)
        #expect(publisher.publish(table, added: [[.int(2)]], removed: []) == nil)
        publisher.open(table, rows: [[.int(5)]])
        // The contents changed while closed: the seq moves on, never back.
        #expect(publisher.snapshot(table)?.seq == 2)
        #expect(try decode(publisher.publish(table, added: [[.int(6)]], removed: [])).seq == 3)
    }

    @Test func externalTablesKeepOnlyTheSeq() throws {
        var publisher = TablePublisher(node: "eng")
        publisher.openExternal(table, columns: ["id"])
        #expect(!publisher.tracksContents(table))
        let delta = try decode(publisher.publishExact(table, added: [[.int(1)]], removed: []))
        #expect(delta.seq == 1)
        #expect(delta.added == [[.int(1)]])
        #expect(publisher.snapshot(table)?.rows == [])
        #expect(publisher.snapshot(table)?.columns == ["id"])
    }

    @Test func heartbeatsCarryEachTablesSeq() throws {
        var publisher = TablePublisher(node: "eng", epoch: "ep")
        let other = TableID("nova:hosts")!
        publisher.open(table)
        publisher.open(other)
        _ = publisher.publish(table, added: [[.int(1)]], removed: [])
        let beats = try publisher.heartbeats().map { try DataMessage(decoding: $0) }
        #expect(beats == [
            .heartbeat(.init(table: other, publisher: "eng", epoch: "ep", seq: 0)),
            .heartbeat(.init(table: table, publisher: "eng", epoch: "ep", seq: 1)),
        ])
    }

    @Test func epochsDiffer() {
        let epochs = Set((0..<20).map { _ in TablePublisher.newEpoch() })
        #expect(epochs.count == 20)
        #expect(epochs.allSatisfy { $0.count == 16 })
    }
}
