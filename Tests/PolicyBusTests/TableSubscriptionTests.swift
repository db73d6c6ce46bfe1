import PolicyEngine
import Testing

@testable import PolicyBus
import TestSupport

@Suite struct TableSubscriptionTests {
    let table = TableID("alice:error")!
    let second: UInt64 = 1_000_000_000

    func delta(_ seq: UInt64, added: [Int64] = [], removed: [Int64] = [], epoch: String = "e") -> DataMessage {
        .delta(.init(table: table, publisher: "eng", epoch: epoch, seq: seq,
                     added: added.map { [.int($0)] }, removed: removed.map { [.int($0)] }))
    }

    func heartbeat(_ seq: UInt64, epoch: String = "e") -> DataMessage {
        .heartbeat(.init(table: table, publisher: "eng", epoch: epoch, seq: seq))
    }

    func rows(_ values: Int64...) -> Set<Row> { Set(values.map { [.int($0)] }) }

    @Test func buffersUntilTheSnapshotThenDropsOldDeltas() {
        var subscription = TableSubscription(table: table, silenceLimit: 3 * second, now: 0)
        #expect(subscription.receive(delta(5, added: [5]), now: 1).isEmpty)
        #expect(subscription.receive(delta(6, added: [6]), now: 2).isEmpty)
        #expect(subscription.receive(delta(7, added: [7]), now: 3).isEmpty)
        let events = subscription.applySnapshot(rows: rows(1, 5, 6), seq: 6, epoch: "e", now: 4)
        #expect(events == [.snapshot(rows: rows(1, 5, 6), seq: 6), .delta(added: [[.int(7)]], removed: [], seq: 7)])
        #expect(subscription.rows == rows(1, 5, 6, 7))
        #expect(subscription.seq == 7)
    }

    @Test func appliesDeltasInOrderAndIgnoresDuplicates() {
        var subscription = TableSubscription(table: table, silenceLimit: 3 * second, now: 0)
        _ = subscription.applySnapshot(rows: [], seq: 0, epoch: "e", now: 0)
        #expect(subscription.receive(delta(1, added: [1, 2]), now: 1) == [.delta(added: [[.int(1)], [.int(2)]], removed: [], seq: 1)])
        #expect(subscription.receive(delta(1, added: [9]), now: 2).isEmpty)
        #expect(subscription.receive(delta(2, removed: [1]), now: 3).count == 1)
        #expect(subscription.rows == rows(2))
    }

    @Test func aGapAsksForAResync() {
        var subscription = TableSubscription(table: table, silenceLimit: 3 * second, now: 0)
        _ = subscription.applySnapshot(rows: [], seq: 0, epoch: "e", now: 0)
        #expect(subscription.receive(delta(2, added: [2]), now: 1) == [.resync(.gap)])
        #expect(!subscription.isSynced)
        // The delta that revealed the gap is kept: it may follow the new snapshot.
        let events = subscription.applySnapshot(rows: rows(1), seq: 1, epoch: "e", now: 2)
        #expect(events == [.snapshot(rows: rows(1), seq: 1), .delta(added: [[.int(2)]], removed: [], seq: 2)])
    }

    @Test func aGapInTheBufferAsksForAnotherResync() {
        var subscription = TableSubscription(table: table, silenceLimit: 3 * second, now: 0)
        _ = subscription.receive(delta(4, added: [4]), now: 0)
        let events = subscription.applySnapshot(rows: [], seq: 2, epoch: "e", now: 1)
        #expect(events == [.snapshot(rows: [], seq: 2), .resync(.gap)])
        #expect(!subscription.isSynced)
    }

    /// The seq lag is what the publisher announced (deltas, heartbeats)
    /// beyond what was applied, in the current epoch only.
    @Test func theSeqLagFollowsWhatThePublisherAnnounced() {
        var subscription = TableSubscription(table: table, silenceLimit: 3 * second, now: 0)
        _ = subscription.applySnapshot(rows: [], seq: 0, epoch: "e", now: 0)
        _ = subscription.receive(delta(1, added: [1]), now: 1)
        #expect(subscription.seqLag == 0)
        #expect(subscription.receive(delta(3, added: [3]), now: 2) == [.resync(.gap)])
        #expect(subscription.seqLag == 2)
        _ = subscription.receive(heartbeat(5), now: 3)
        #expect(subscription.seqLag == 4)
        _ = subscription.receive(heartbeat(9, epoch: "other"), now: 4)
        #expect(subscription.seqLag == 4, "another epoch's seqs are not comparable")
        _ = subscription.applySnapshot(rows: rows(1, 3), seq: 5, epoch: "e", now: 5)
        #expect(subscription.seqLag == 0)
        _ = subscription.applySnapshot(rows: rows(1), seq: 2, epoch: "new", now: 6)
        #expect(subscription.seqLag == 0, "a new epoch starts its count again")
    }

    @Test func aNewEpochAsksForAResync() {
        var subscription = TableSubscription(table: table, silenceLimit: 3 * second, now: 0)
        _ = subscription.applySnapshot(rows: rows(1), seq: 9, epoch: "e", now: 0)
        #expect(subscription.receive(delta(1, added: [3], epoch: "f"), now: 1) == [.resync(.newEpoch)])
        var other = TableSubscription(table: table, silenceLimit: 3 * second, now: 0)
        _ = other.applySnapshot(rows: rows(1), seq: 9, epoch: "e", now: 0)
        #expect(other.receive(heartbeat(0, epoch: "f"), now: 1) == [.resync(.newEpoch)])
        // Deltas buffered from the old epoch are not applied after a new-epoch snapshot.
        let events = subscription.applySnapshot(rows: rows(3), seq: 1, epoch: "f", now: 2)
        #expect(events == [.snapshot(rows: rows(3), seq: 1)])
    }

    @Test func aHeartbeatAheadRevealsALostFinalDelta() {
        var subscription = TableSubscription(table: table, silenceLimit: 3 * second, now: 0)
        _ = subscription.applySnapshot(rows: [], seq: 3, epoch: "e", now: 0)
        #expect(subscription.receive(heartbeat(3), now: 1).isEmpty)
        #expect(subscription.receive(heartbeat(2), now: 1).isEmpty)
        #expect(subscription.receive(heartbeat(4), now: 2) == [.resync(.heartbeatAhead)])
    }

    @Test func silenceAsksForAResync() {
        var subscription = TableSubscription(table: table, silenceLimit: 3 * second, now: 0)
        _ = subscription.applySnapshot(rows: [], seq: 0, epoch: "e", now: 0)
        #expect(subscription.tick(now: 2 * second).isEmpty)
        _ = subscription.receive(heartbeat(0), now: 2 * second)
        #expect(subscription.tick(now: 4 * second).isEmpty)
        #expect(subscription.tick(now: 6 * second) == [.resync(.silence)])
        // No repeated resync while one is pending.
        #expect(subscription.tick(now: 20 * second).isEmpty)
    }

    /// A publisher, a lossy channel and a subscriber that resyncs: the
    /// subscriber always ends with the publisher's contents.
    @Test func convergesOverALossyChannel() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("TableSubscriptionTests.convergesOverALossyChannel seed \(seed)")
        var random = SeededRandom(seed: seed)
        for _ in 0..<50 {
            var publisher = TablePublisher(node: "eng", epoch: "e")
            publisher.open(table)
            var subscription = TableSubscription(table: table, silenceLimit: 3 * second, now: 0)
            var pendingSnapshot: (Set<Row>, UInt64)? = publisher.snapshot(table).map { ($0.rows, $0.seq) }
            var delivered = 0
            for step in 0..<200 {
                let value = Int64(random.next() % 20)
                let frame = random.next() % 2 == 0
                    ? publisher.publish(table, added: [[.int(value)]], removed: [])
                    : publisher.publish(table, added: [], removed: [[.int(value)]])
                var events: [TableSubscription.Event] = []
                if let frame, random.next() % 5 != 0 {  // 20% loss
                    events += subscription.receive(try DataMessage(decoding: frame), now: UInt64(step))
                    delivered += 1
                }
                if random.next() % 7 == 0, let snapshot = pendingSnapshot {
                    events += subscription.applySnapshot(rows: snapshot.0, seq: snapshot.1, epoch: "e", now: UInt64(step))
                    pendingSnapshot = nil
                }
                if events.contains(where: { if case .resync = $0 { true } else { false } }) {
                    pendingSnapshot = publisher.snapshot(table).map { ($0.rows, $0.seq) }
                }
            }
            // The flow settles: a pending snapshot arrives, heartbeats reveal
            // anything lost, and a resync fetches a fresh snapshot.
            for round in 0..<3 {
                if let snapshot = pendingSnapshot {
                    pendingSnapshot = nil
                    let events = subscription.applySnapshot(rows: snapshot.0, seq: snapshot.1, epoch: "e", now: 1000)
                    if events.contains(.resync(.gap)) {
                        pendingSnapshot = publisher.snapshot(table).map { ($0.rows, $0.seq) }
                        continue
                    }
                }
                for beat in publisher.heartbeats()
                where !subscription.receive(try DataMessage(decoding: beat), now: 1000 + UInt64(round)).isEmpty {
                    pendingSnapshot = publisher.snapshot(table).map { ($0.rows, $0.seq) }
                }
            }
            #expect(subscription.isSynced)
            #expect(subscription.rows == publisher.snapshot(table)?.rows, "seed \(seed)")
        }
    }
}

