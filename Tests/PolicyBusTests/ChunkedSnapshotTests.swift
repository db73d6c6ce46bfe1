import Foundation
import PolicyEngine
import Testing
import TestSupport

@testable import PolicyBus

/// Snapshots larger than a chunk: the node's captures, and the session's
/// assembly with a fake clock (issue 13, "Snapshots bounded in memory and in time").
@Suite struct ChunkedSnapshotTests {
    static let table = TableID("data:q")!
    static let second: UInt64 = 1_000_000_000

    static func rows(_ count: Int, random: inout SeededRandom) -> [Row] {
        (0..<count).map { index in [.int(Int64(index)), .string(random.trickyString())] }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// A capture of `rows` (taken as a data source's set) for one more
    /// client, sorted to the end: what that client's reply carries.
    static func capture(
        _ captures: inout SnapshotCaptures, _ rows: [Row], seq: UInt64, now: UInt64 = 0, calls: inout Int
    ) throws -> ControlReply.Subscribed.Snapshot.Contents {
        let id = try captures.capture(of: table, seq: seq, now: now) { calls += 1; return RowSource(Set(rows)) }
        captures.finish(id)
        return captures.contents(of: id, now: now)
    }

    static func capture(_ captures: inout SnapshotCaptures, _ rows: [Row], seq: UInt64) throws -> ControlReply.Subscribed.Snapshot.Contents {
        var calls = 0
        return try capture(&captures, rows, seq: seq, calls: &calls)
    }

    /// Every capture read chunk by chunk gives back its rows, in order, each
    /// chunk's rows within the chunk size (unless one row alone is larger).
    @Test func chunksCoverTheRowsAndStayWithinTheirSize() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("ChunkedSnapshotTests seed \(seed)")
        var random = SeededRandom(seed: seed)
        for _ in 0..<20 {
            let chunkBytes = Int.random(in: 16...2000, using: &random)
            let rows = Self.rows(Int.random(in: 0...5000, using: &random), random: &random)
            var captures = SnapshotCaptures(chunkBytes: chunkBytes, idleNanoseconds: Self.second)
            let contents = try Self.capture(&captures, rows, seq: 3)
            guard case .chunked(let id, let count) = contents else {
                guard case .rows(let inline) = contents else { Issue.record("seed \(seed): \(contents)"); continue }
                #expect(inline == rows, "seed \(seed)")
                #expect(Array(JSON(rows: rows).text.utf8).count <= chunkBytes + 2, "seed \(seed)")
                #expect(captures.count == 0, "seed \(seed): a snapshot in one reply keeps no capture")
                continue
            }
            let captured = (id: id, rows: count)
            #expect(captured.rows == rows.count)
            // A second reader of the capture: its chunks' ends are the first's, kept.
            _ = try Self.capture(&captures, rows, seq: 3)
            var chunks: [[[Row]]] = [[], []]
            for reader in 0..<2 {
                var read: [Row] = []
                var more = 1
                while more > 0 {
                    let chunk = try captures.chunk(captured.id, offset: read.count, now: 0)
                    #expect(!chunk.rows.isEmpty)
                    let bytes = Array(JSON(rows: Array(chunk.rows)).text.utf8).count
                    #expect(chunk.rows.count == 1 || bytes <= chunkBytes + 2, "seed \(seed): \(bytes) bytes over \(chunkBytes)")
                    read += chunk.rows
                    chunks[reader].append(Array(chunk.rows))
                    more = chunk.more
                }
                #expect(read == rows, "seed \(seed)")
            }
            #expect(chunks[0] == chunks[1], "seed \(seed)")
            #expect(captures.count == 0, "seed \(seed): both readers read the last chunk")
        }
    }

    /// Readers of one table at one seq share a capture, which stays until
    /// the last has read its last chunk; a new seq is a new capture.
    @Test func readersOfOneSeqShareACapture() throws {
        var random = SeededRandom(seed: 7)
        let rows = Self.rows(300, random: &random)
        var captures = SnapshotCaptures(chunkBytes: 256, idleNanoseconds: Self.second)
        var calls = 0
        guard case .chunked(let first, _) = try Self.capture(&captures, rows, seq: 1, calls: &calls),
            case .chunked(let second, _) = try Self.capture(&captures, rows, seq: 1, calls: &calls)
        else { Issue.record("not chunked"); return }
        #expect(first == second)
        #expect(calls == 1)
        guard case .chunked(let third, _) = try Self.capture(&captures, rows, seq: 2, calls: &calls) else { Issue.record("not chunked"); return }
        #expect(third != first)
        #expect(captures.count == 2)
        func readAll(_ id: String) throws {
            var offset = 0
            while true {
                let chunk = try captures.chunk(id, offset: offset, now: 0)
                offset += chunk.rows.count
                if chunk.more == 0 { return }
            }
        }
        try readAll(first)
        #expect(captures.count == 2)
        try readAll(first)
        #expect(captures.count == 1)
        #expect(throws: BusError.self) { try captures.chunk(first, offset: 0, now: 0) }
    }

    /// A capture nobody reads (its client vanished) goes after the idle time;
    /// reading it then is `snapshot-gone`.
    @Test func anUnreadCaptureIsDroppedAndThenGone() throws {
        var random = SeededRandom(seed: 11)
        let rows = Self.rows(300, random: &random)
        var captures = SnapshotCaptures(chunkBytes: 256, idleNanoseconds: Self.second)
        guard case .chunked(let id, _) = try Self.capture(&captures, rows, seq: 1) else { Issue.record("not chunked"); return }
        let captured = (id: id, rows: rows.count)
        _ = try captures.chunk(captured.id, offset: 0, now: Self.second / 2)
        #expect(captures.expire(now: Self.second) == 0)
        #expect(captures.expire(now: 2 * Self.second) == 1)
        do {
            _ = try captures.chunk(captured.id, offset: 0, now: 2 * Self.second)
            Issue.record("a dropped capture was read")
        } catch {
            #expect(error.code == .snapshotGone)
        }
        #expect(throws: BusError.self) { try captures.chunk("nope", offset: 0, now: 0) }
    }

    // MARK: - The session

    func helloed() -> SubscriptionSession {
        var session = SubscriptionSession(controlEndpoint: "tcp://127.0.0.1:1", clientID: "test")
        session.subscribe([Self.table], now: 0)
        let hello = requests(&session).first { $0["op"]?.stringValue == "hello" }!
        _ = session.receiveReply(reply(to: hello["id"]!.intValue!, ["data": .string("inproc://data")]), now: 0)
        return session
    }

    func requests(_ session: inout SubscriptionSession) -> [JSON] {
        session.takeActions().compactMap { action in
            guard case .send(let frame) = action else { return nil }
            return try? JSON.parse(frame)
        }
    }

    func reply(to id: Int64, _ fields: [String: JSON]) -> [UInt8] {
        var body = fields
        body["ok"] = .bool(true)
        body["id"] = .int(id)
        return Array(JSON.object(body).text.utf8)
    }

    func chunkedReply(to id: Int64, snapshot: String, rows: Int, seq: Int64) -> [UInt8] {
        reply(to: id, [
            "epoch": .string("e1"), "data": .string("inproc://data"),
            "tables": .object([Self.table.description: .object([
                "seq": .int(seq), "columns": .null, "chunked": .object(["snapshot": .string(snapshot), "rows": .int(Int64(rows))]),
            ])]),
        ])
    }

    func chunkReply(to request: JSON, rows: [Row], more: Int) -> [UInt8] {
        reply(to: request["id"]!.intValue!, ["offset": request["offset"]!, "rows": JSON(rows: rows), "more": .int(Int64(more))])
    }

    func delta(seq: Int, added: Int) -> [UInt8] {
        Array(#"data:q {"type":"delta","pub":"data","epoch":"e1","seq":\#(seq),"added":[[\#(added)]],"removed":[]}"#.utf8)
    }

    /// A chunked snapshot is read one chunk at a time, from the offsets the
    /// replies give; the deltas that arrive meanwhile are buffered and
    /// applied after it; the table is synced only once it is whole.
    @Test func aChunkedSnapshotIsReadOneChunkAtATimeAndThenTheBufferedDeltas() throws {
        var session = helloed()
        let subscribe = try #require(requests(&session).first { $0["op"]?.stringValue == "subscribe" })
        #expect(session.receiveReply(chunkedReply(to: subscribe["id"]!.intValue!, snapshot: "s1", rows: 5, seq: 4), now: 0).isEmpty)
        var events: [SubscriptionSession.Event] = []
        let all: [Row] = (1...5).map { [.int(Int64($0))] }
        var offset = 0
        for (index, size) in [2, 2, 1].enumerated() {
            let asks = requests(&session)
            #expect(asks.count == 1, "one chunk in flight: \(asks)")
            let ask = try #require(asks.first)
            #expect(ask["op"] == .string("snapshot-chunk"))
            #expect(ask["snapshot"] == .string("s1"))
            #expect(ask["offset"] == .int(Int64(offset)))
            #expect(!session.isSynced)
            session.receiveData(delta(seq: 5 + index, added: 100 + index), now: 0, into: &events)
            let chunk = Array(all[offset..<offset + size])
            offset += size
            events += session.receiveReply(chunkReply(to: ask, rows: chunk, more: 5 - offset), now: 0)
        }
        #expect(requests(&session).isEmpty)
        #expect(session.isSynced)
        #expect(events.contains(.table(Self.table, .snapshot(rows: Set(all), seq: 4))))
        #expect(events.contains(.table(Self.table, .delta(added: [[.int(102)]], removed: [], seq: 7))))
        #expect(session.rows(of: Self.table) == Set(all + [[.int(100)], [.int(101)], [.int(102)]]))
        #expect(session.seq(of: Self.table) == 7)
    }

    /// A chunk request that times out is asked again from the same offset,
    /// and the late reply to the first is taken (the second then ignored).
    @Test func aTimedOutChunkIsAskedAgainAndALateReplyTaken() throws {
        var session = helloed()
        let subscribe = try #require(requests(&session).first { $0["op"]?.stringValue == "subscribe" })
        _ = session.receiveReply(chunkedReply(to: subscribe["id"]!.intValue!, snapshot: "s1", rows: 2, seq: 1), now: 0)
        let first = try #require(requests(&session).first)
        var now: UInt64 = 0
        var again: [JSON] = []
        while again.isEmpty && now < 10 * Self.second {
            now += Self.second / 10
            _ = session.tick(now: now)
            again = requests(&session).filter { $0["op"] == .string("snapshot-chunk") }
        }
        let second = try #require(again.first)
        #expect(second["offset"] == .int(0))
        #expect(session.receiveReply(chunkReply(to: first, rows: [[.int(1)]], more: 1), now: now).isEmpty)
        let next = try #require(requests(&session).first)
        #expect(next["offset"] == .int(1))
        #expect(session.receiveReply(chunkReply(to: second, rows: [[.int(1)]], more: 1), now: now).isEmpty, "a duplicate")
        let events = session.receiveReply(chunkReply(to: next, rows: [[.int(2)]], more: 0), now: now)
        #expect(events.contains(.table(Self.table, .snapshot(rows: [[.int(1)], [.int(2)]], seq: 1))))
        #expect(session.isSynced)
    }

    /// A capture the node dropped (`snapshot-gone`), or chunks that do not
    /// add up to the rows announced (a few short, or a count no memory
    /// holds, which the first chunk makes room for only up to a bound),
    /// make the session subscribe again, without `since`.
    @Test(arguments: ["gone", "short", "overstated"]) func aBrokenChunkedSnapshotIsAskedForAgain(_ how: String) throws {
        var session = helloed()
        let subscribe = try #require(requests(&session).first { $0["op"]?.stringValue == "subscribe" })
        let announced = how == "overstated" ? 1 << 50 : 3
        _ = session.receiveReply(chunkedReply(to: subscribe["id"]!.intValue!, snapshot: "s1", rows: announced, seq: 1), now: 0)
        let ask = try #require(requests(&session).first)
        let answer = how == "gone"
            ? Array(#"{"ok":false,"id":\#(ask["id"]!.intValue!),"error":{"code":"snapshot-gone","message":"gone"}}"#.utf8)
            : chunkReply(to: ask, rows: [[.int(1)], [.int(2)]], more: 0)
        #expect(session.receiveReply(answer, now: 0).isEmpty)
        let again = try #require(requests(&session).first { $0["op"] == .string("subscribe") }, "\(how)")
        #expect(again["since"] == nil)
        #expect(!session.isSynced)
    }
}
