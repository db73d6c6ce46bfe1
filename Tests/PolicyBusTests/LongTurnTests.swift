import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// A transaction of an engine that takes longer than its peer's silence
    /// limit (3 × H) must not make it declare the peer lost: the peer's
    /// heartbeats were arriving all along, read in the transaction's pauses
    /// or queued in the SUB. Found by applying a 300k-row peer snapshot (7 s in a debug
    /// build): the engine then logged "peer table lost", marked every table
    /// reading it stale, and resynced it.
    @Suite(.serialized) struct LongTurnTests {
        /// 1000 rows whose pairs the engine derives when the snapshot comes:
        /// about 500,000 rows, far longer than the peer's 3 × 50 ms.
        static let policy = "pair(x, y) :- ds:t(x), ds:t(y), lt(x, y)"

        @Test func aTurnLongerThanThePeersSilenceLimitDoesNotLoseThePeer() async throws {
            let facts = #"{"t": [\#((0..<1000).map { "[\($0)]" }.joined(separator: ","))]}"#
            try await withProcesses { processes in
                let (_, peer) = try await processes.dataSource("ds", extra: ["--facts", try temporaryFile(facts, suffix: ".json"), "--heartbeat-ms", "50"])
                let (engine, endpoint) = try await processes.engine("e", policies: [("p", Self.policy)], peers: [("ds", peer)])
                let rows = try await eventually("the pairs derived from the peer's snapshot") { () async throws -> Int? in
                    let tables = try await request(endpoint, "tables")["tables"]?.arrayValue ?? []
                    let count = tables.first { $0["name"]?.stringValue == "p:pair" }?["rows"]?.intValue
                    return count == 499_500 ? 499_500 : nil
                }
                #expect(rows == 499_500)
                // This status is read after the long turn and its timers.
                let status = try await request(endpoint, "status")
                let stall = status["loop_longest_stall_us"]?.intValue ?? 0
                let pauses = status["counters"]?["long_work_pauses"]?.intValue ?? 0
                print("longest loop stall at the engine: \(stall / 1000) ms, \(pauses) pauses of the transaction; the peer's silence limit is 150 ms")
                // The transaction pauses every loop budget (`Node+LongWork.swift`); it
                // must have been long enough to, or this tests nothing.
                #expect(pauses > 0, "the transaction must outlast a loop budget, or this tests nothing")
                #expect(engine.stderrText.contains("peer table lost") == false, "\(engine.stderrText)")
                #expect(status["remote"]?["ds:t"]?["synced"] == .bool(true), "\(String(describing: status["remote"]))")
            }
        }
    }
}
