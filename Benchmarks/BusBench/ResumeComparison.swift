import Foundation
import PolicyBus
import PolicyEngine
import ZeroMQ

// MARK: - 5. Resync after a gap: resume against snapshot

/// A client holding a data source's table of `rows` rows misses `gap`
/// deltas, then resyncs: with `since` (the node sends the missed deltas) or
/// without (a snapshot), alternating in each round. Bytes: request and reply
/// frames on the control socket. Time: from the request sent to the client's
/// copy (a `Set<Row>`) in step with the node's, the reply parsed and applied
/// as the clients do (`JSON.parse`, `RowCodec.rows`).
func resumeComparison(rows: Int, gap: Int, rounds: Int) throws {
    print("BusBench --resume: resync after a \(gap)-delta gap on a \(rows)-row table, resume (since) against snapshot, \(rounds) rounds, alternating")
    let source = try NodeThread.start(name: "bench-resume-source") { () throws(BusError) -> Node in
        var options = NodeOptions(name: "data", control: "tcp://127.0.0.1:*")
        options.logger.logLevel = .warning
        options.limits.maxRowsPerRequest = 10_000_000
        return try Node.dataSource(options, schema: ["q": ["x", "name"]], context: try makeContext())
    }
    defer { source.stop() }
    let filled = DispatchSemaphore(value: 0)
    source.control.submit { node in
        try? node.applyFacts([.replace(table: "q", rows: (0..<rows).map { [.int(Int64($0)), .string("server-\($0)")] })])
        filled.signal()
    }
    filled.wait()
    let context = try Context()
    let dealer = try Socket(context, .dealer)
    defer { dealer.close() }
    try dealer.set(.receiveTimeout, Int32(120_000))
    try dealer.connect(source.controlEndpoint)
    var nextID: Int64 = 0
    func exchange(_ fields: [String: JSON]) throws -> (reply: [UInt8], bytes: Int) {
        nextID += 1
        let request = ControlRequest.frame(op: "subscribe", id: nextID, client: "bench", fields: fields)
        try dealer.send([request])
        let reply = try dealer.receive().last ?? []
        return (reply, request.count + reply.count)
    }
    func entry(_ reply: [UInt8]) throws -> (epoch: String, table: JSON) {
        let json = try ControlReply.parse(reply)
        guard let epoch = json["epoch"]?.stringValue, let table = json["tables"]?["data:q"] else { throw BusError(.badReply, "no data:q") }
        return (epoch, table)
    }
    // The client's copy, from a first snapshot.
    let tables: [String: JSON] = ["tables": .array([.string("data:q")])]
    let (epoch, first) = try entry(try exchange(tables).reply)
    var copy = Set(try RowCodec.rows(first["rows"] ?? .null))
    var seq = UInt64(first["seq"]?.intValue ?? 0)
    var next = Int64(rows)
    var figures: [Bool: [(bytes: Int, milliseconds: Double)]] = [:]
    for round in 0..<rounds {
        for resume in round.isMultiple(of: 2) ? [true, false] : [false, true] {
            // The gap: deltas published while the client heard none of them.
            let published = DispatchSemaphore(value: 0)
            let base = next
            source.control.submit { node in
                for x in base..<base + Int64(gap) { try? node.applyFacts([.insert(table: "q", row: [.int(x), .string("server-\(x)")])]) }
                published.signal()
            }
            published.wait()
            next += Int64(gap)
            let start = monotonicNanoseconds()
            var fields = tables
            if resume { fields["since"] = .object(["epoch": .string(epoch), "seq": .int(Int64(seq))]) }
            let (reply, bytes) = try exchange(fields)
            let (_, table) = try entry(reply)
            if table["resumed"] == .bool(true) {
                for delta in table["deltas"]?.arrayValue ?? [] {
                    for row in try RowCodec.rows(delta["removed"] ?? .null) { copy.remove(row) }
                    for row in try RowCodec.rows(delta["added"] ?? .null) { copy.insert(row) }
                }
            } else {
                copy = Set(try RowCodec.rows(table["rows"] ?? .null))
            }
            seq = UInt64(table["seq"]?.intValue ?? 0)
            let milliseconds = Double(monotonicNanoseconds() - start) / 1e6
            guard copy.count == Int(next), table["resumed"] == .bool(true) || !resume else {
                throw BusError(.badReply, "the client's copy is not in step: \(copy.count) rows, resumed \(String(describing: table["resumed"]))")
            }
            figures[resume, default: []].append((bytes, milliseconds))
            print("resume   round \(round + 1) \(resume ? "resume  " : "snapshot"): \(bytes) bytes, \(format(milliseconds)) ms to converge")
        }
    }
    let resumeBytes = median(figures[true]!.map { Double($0.bytes) }), snapshotBytes = median(figures[false]!.map { Double($0.bytes) })
    let resumeTime = median(figures[true]!.map(\.milliseconds)), snapshotTime = median(figures[false]!.map(\.milliseconds))
    print("resume   medians: resume \(Int(resumeBytes)) bytes, \(format(resumeTime)) ms; snapshot \(Int(snapshotBytes)) bytes, \(format(snapshotTime)) ms; resume is \(Int(snapshotBytes / resumeBytes))x fewer bytes, \(Int(snapshotTime / resumeTime))x faster")
}
