import Foundation
import PolicyBus
import PolicyEngine
import TestSupport
import Testing
import ZeroMQ

/// Issue 12: a data source works a large `facts` request out a step of rows
/// at a time between other requests (`FactsTransaction`,
/// `Node+QueuedChanges.swift`). Each change still reaches subscribers as
/// one exact delta, seq by seq, refused changes publish nothing, the
/// sender's next request sees its change, and other clients are served
/// while it is worked out.
@Suite struct SlicedFactsTests {
    /// A SUB on one table of a data source, connected once a heartbeat of the table came through.
    final class TableListener {
        let context: ZeroMQ.Context
        let sub: Socket

        init(data: String, table: String) throws {
            context = try ZeroMQ.Context()
            sub = try Socket(context, .sub)
            try sub.set(.linger, 0)
            try sub.set(.receiveTimeout, 60_000)
            try sub.set(.subscribe, DataMessage.topic(TableID(table)!))
            try sub.connect(data)
            // The first message (a heartbeat) says the subscription has joined.
            _ = try nextMessage()
        }

        func nextMessage() throws -> DataMessage {
            let frames = try sub.receive()
            return try DataMessage(decoding: frames[0])
        }

        /// The next delta, skipping heartbeats.
        func nextDelta() throws -> DataMessage.Delta {
            while true {
                if case .delta(let delta) = try nextMessage() { return delta }
            }
        }

        func close() { sub.close() }
    }

    static func rowsJSON(_ rows: [Row]) -> JSON { JSON(rows: rows) }

    /// Random inserts, deletes and replaces, many larger than one step
    /// (8192 rows), over a small domain so that they hit present and absent
    /// rows, and some refused by a bad last row: the deltas, applied in seq
    /// order to the rows as they were, each add only absent rows and remove
    /// only present ones, one per accepted change that changed something,
    /// and end at the reference set, which a `query` returns too.
    @Test func randomLargeChangesPublishExactDeltasSeqBySeq() async throws {
        let seed = UInt64.random(in: 0...UInt64(UInt32.max))
        print("SlicedFactsTests seed \(seed)")
        try await withProcesses { processes in
            let (_, control) = try await processes.dataSource("data")
            _ = try await request(control, "facts", ["action": .string("insert"), "table": .string("data:t"), "rows": .array([.array([.int(-1), .string("first")])])])
            let data = DataEndpoint.resolve(try #require(try await request(control, "hello")["data"]?.stringValue), control: control)
            let reference = try await offPool { () throws -> Set<Row> in
                var random = SeededRandom(seed: seed)
                let listener = try TableListener(data: data, table: "data:t")
                defer { listener.close() }
                let context = try ZeroMQ.Context()
                let client = try ControlClient(context: context, endpoint: control, timeoutMilliseconds: 120_000)
                defer { client.close() }
                var reference: Set<Row> = [[.int(-1), .string("first")]]
                var mirror = reference
                var seq = try #require(client.request("tables")["tables"]?.arrayValue?.first?["seq"]?.intValue)
                for round in 0..<10 {
                    let count = [1, 500, 8192, 8193, 20_000, 60_000].randomElement(using: &random)!
                    var rows: [Row] = (0..<count).map { _ in
                        let key = Int64.random(in: 0..<40_000, using: &random)
                        return [.int(key), .string("s\(key % 7)")]
                    }
                    let action = ["insert", "insert", "delete", "replace"].randomElement(using: &random)!
                    let refused = action != "delete" && count > 1 && Bool.random(using: &random) && Bool.random(using: &random)
                    if refused { rows[count - 1] = [.int(0)] }
                    let fields: [String: JSON] = ["action": .string(action), "table": .string("data:t"), "rows": Self.rowsJSON(rows)]
                    let before = reference
                    do {
                        let reply = try client.request("facts", fields)
                        #expect(!refused, "round \(round): a change with a bad last row was accepted")
                        switch action {
                        case "insert": reference.formUnion(rows)
                        case "delete": reference.subtract(rows)
                        default: reference = Set(rows)
                        }
                        let replySeq = try #require(reply["seq"]?.intValue)
                        #expect(replySeq == seq + (reference == before ? 0 : 1), "round \(round) (\(action) of \(count)): one delta per change")
                        seq = replySeq
                    } catch let error as BusError {
                        #expect(refused && error.code.rawValue == "arity-mismatch", "round \(round): \(error)")
                        continue
                    }
                    guard reference != before else { continue }
                    let delta = try listener.nextDelta()
                    #expect(delta.seq == UInt64(seq), "round \(round): deltas seq by seq")
                    for row in delta.removed {
                        #expect(mirror.remove(row) != nil, "round \(round): removed a row that was not there")
                    }
                    for row in delta.added {
                        #expect(mirror.insert(row).inserted, "round \(round): added a row that was there")
                    }
                    #expect(mirror == reference, "round \(round) (\(action) of \(count)): the deltas end at the reference")
                }
                return reference
            }
            let queried = try await queryRows(control, "data:t")
            #expect(queried == Set(reference.map { $0.map(JSON.init) }), "seed \(seed)")
        }
    }

    /// While one client's 100k-row change is worked out, another client's
    /// `status` is answered: it counts the change's request as read and the
    /// table's rows as before the change. (Served whole, the change would
    /// be either not read yet or published by then.) The sender's
    /// pipelined `tables` waits for its change and sees it.
    @Test func otherClientsAreServedWhileALargeChangeIsWorkedOut() async throws {
        try await withProcesses { processes in
            let (_, control) = try await processes.dataSource("data")
            let seen = try await offPool { () throws -> Bool in
                let context = try ZeroMQ.Context()
                let other = try ControlClient(context: context, endpoint: control, timeoutMilliseconds: 120_000)
                defer { other.close() }
                // A few tries: on a fast node the change may be done before the first status.
                for attempt in 0..<5 {
                    let table = "data:t\(attempt)"
                    let rows: [Row] = (0..<100_000).map { [.int(Int64($0)), .string("server-\($0)")] }
                    let sender = try Socket(context, .dealer)
                    defer { sender.close() }
                    try sender.set(.linger, 0)
                    try sender.set(.receiveTimeout, 120_000)
                    try sender.connect(control)
                    let baseline = try #require(other.request("status")["counters"]?["requests"]?.intValue)
                    try sender.send([ControlRequest.frame(.facts(.init(.insert, table: TableID(table)!, rows: rows)), id: 1, client: "sender")])
                    try sender.send([ControlRequest.frame(.tables(.first), id: 2, client: "sender")])
                    var observed = false
                    for asked in 1...10_000 {
                        let status = try other.request("status")
                        let requests = try #require(status["counters"]?["requests"]?.intValue)
                        // This status and the ones before it, and the facts if it was read.
                        let factsRead = requests - baseline - Int64(asked) >= 1
                        let rowsNow = status["tables"]?[table]?["rows"]?.intValue ?? 0
                        if factsRead && rowsNow == 0 { observed = true }
                        if factsRead && rowsNow == 100_000 { break }
                    }
                    let facts = try JSON.parse(try sender.receive()[0])
                    #expect(facts["ok"] == .bool(true), "\(facts)")
                    let tables = try JSON.parse(try sender.receive()[0])
                    #expect(tables["id"] == .int(2))
                    let listed = tables["tables"]?.arrayValue?.first { $0["name"]?.stringValue == table }
                    #expect(listed?["rows"]?.intValue == 100_000, "the sender's next request sees its change: \(tables)")
                    if observed { return true }
                }
                return false
            }
            #expect(seen, "no status was answered between the change's request and its publishing")
        }
    }
}
