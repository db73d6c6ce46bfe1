import Foundation
import PolicyEngine
import Synchronization
import Testing

extension ProcessSuites {
    /// Issue 12: the node is one poll loop, so a client's requests hold up its
    /// subscribers. A client hammering `status`, `query` and `tables` while
    /// an engine passes on about 1,000 deltas a second: the subscriber sees
    /// every delta, in order, with no resync, and the engine reports the
    /// longest its loop was held (printed). The stall is wall time, so it
    /// counts a loaded machine's preemption too: it is held to a budget only
    /// when `POLICYBUS_STALL_BUDGET_MS` asks for it (a quiet machine, a release build).
    @Suite struct LoopStallTests {
        static let rows = 5000

        /// What the writer and the hammering tasks share.
        final class Load: Sendable {
            let writing = Atomic(true)
            let requests = Atomic(0)
        }

        @Test func aHammeredEngineKeepsItsSubscriberInStepAndReportsItsLongestStall() async throws {
            try await withProcesses { processes in
                let (source, sourceControl) = try await processes.dataSource("d")
                let (_, control) = try await processes.engine("E", policies: [("c", "seen(x, n) :- d:vm(x, n)")], peers: [("d", sourceControl)])
                let subscriber = try processes.subscriber(control, ["c:seen"], extra: ["--timeout", "300"])
                _ = try await subscriber.jsonLine(0)

                let load = Load()
                let hammers = (0..<4).map { index in
                    Task {
                        let ops: [(String, [String: JSON])] = [("status", [:]), ("query", ["query": .string("c:seen")]), ("tables", [:])]
                        var turn = index
                        while load.writing.load(ordering: .acquiring) {
                            let (op, fields) = ops[turn % ops.count]
                            _ = try await request(control, op, fields)
                            load.requests.add(1, ordering: .relaxed)
                            turn += 1
                        }
                    }
                }
                // The load's pace, not a wait: 10 rows every 10 ms, about 1,000 a second for 5 s.
                for batch in 0..<(Self.rows / 10) {
                    source.write((0..<10).map { "+vm(\"k\(batch * 10 + $0)\", \(batch * 10 + $0))" }.joined(separator: "\n"))
                    try await Task.sleep(for: .milliseconds(10))
                }
                load.writing.store(false, ordering: .releasing)
                for hammer in hammers { try await hammer.value }

                let lines = try await subscriber.waitFor("all \(Self.rows) rows") { process in
                    let lines = process.stdoutLines
                    return (try? contents(from: lines, table: "c:seen"))?.count == Self.rows ? lines : nil
                }
                let messages = try lines.map { try JSON.parse($0) }
                let snapshots = messages.filter { $0["kind"]?.stringValue == "snapshot" }
                #expect(snapshots.count == 1, "a second snapshot is a resync: \(snapshots.count) snapshots")
                var seq = try #require(snapshots.first?["seq"]?.intValue)
                for delta in messages where delta["kind"]?.stringValue == "delta" {
                    #expect(delta["seq"]?.intValue == seq + 1, "delta after seq \(seq): \(delta)")
                    seq = delta["seq"]?.intValue ?? seq
                }

                let status = try await request(control, "status")
                let stall = try #require(status["loop_longest_stall_us"]?.intValue, "\(status)")
                #expect(stall > 0)
                if let budget = ProcessInfo.processInfo.environment["POLICYBUS_STALL_BUDGET_MS"].flatMap(Int.init) {
                    #expect(stall < budget * 1000, "the loop was held \(stall) µs, over the \(budget) ms budget")
                }
                print("LoopStallTests: \(load.requests.load(ordering: .relaxed)) requests; longest loop stall \(Double(stall) / 1000) ms")
                let text = try await runPolicybus(["status", "--connect", control, "--timeout", "30"])
                #expect(text.stdout.contains("loop: longest stall "), "\(text.stdout)")
            }
        }
    }
}
