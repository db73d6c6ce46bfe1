import Foundation
import PolicyBus
import PolicyEngine
import Synchronization
import Testing
import ZeroMQ

extension ProcessSuites {
    /// Issue 12: one engine transaction used to hold the node's loop until it
    /// ended (the counter below: 10 s, its time budget), so the subscribers
    /// of every other table heard nothing and resynced. Now the engine pauses
    /// every loop budget and the node sends its heartbeats and reads its
    /// sockets there (`Node+LongWork.swift`).
    @Suite(.serialized) struct LongWorkTests {
        static let policy = "cnt(0).\nseen(\"x\").\na(x) :- seen(x)."

        /// What the listener thread and the test share.
        final class Listening: Sendable {
            let running = Atomic(true)
            let transactionRunning = Atomic(false)
            /// Data messages of `p:a` heard while the `rules` request waited for its reply.
            let heardDuring = Atomic(0)
            let heard = Atomic(0)
        }

        /// A SUB of our own that counts the data messages (heartbeats) of
        /// `p:a`; returns once it heard the first.
        static func listen(_ data: String, _ listening: Listening) async throws -> Task<Void, any Error> {
            let listener = Task {
                try await offPool {
                    let context = try ZeroMQ.Context()
                    let sub = try Socket(context, .sub)
                    defer { sub.close() }
                    try sub.set(.linger, 0)
                    try sub.set(.receiveTimeout, 50)
                    try sub.set(.subscribe, DataMessage.topic(TableID("p:a")!))
                    try sub.connect(data)
                    while listening.running.load(ordering: .acquiring) {
                        guard (try? sub.receive()) != nil else { continue }
                        listening.heard.add(1, ordering: .relaxed)
                        if listening.transactionRunning.load(ordering: .acquiring) { listening.heardDuring.add(1, ordering: .relaxed) }
                    }
                }
            }
            _ = try await eventually("the first heartbeat of p:a") { listening.heard.load(ordering: .relaxed) > 0 ? true : nil }
            return listener
        }

        /// SIGTERM in a transaction of 10 minutes' budget: the engine rolls
        /// it back at its next pause, answers `too-expensive` ("asked to
        /// stop") and exits, instead of running out its budget first.
        @Test func aStoppingNodeRollsTheTransactionBack() async throws {
            try await withProcesses { processes in
                let (engine, control) = try await processes.engine(
                    "e", policies: [("p", Self.policy)], peers: [], extra: ["--max-transaction-ms", "600000", "--max-derived-rows", "1000000000"])
                _ = try await request(control, "subscribe", ["tables": .array([.string("p:a")])])
                let data = try #require(try await request(control, "hello")["data"]?.stringValue)
                let listening = Listening()
                let listener = try await Self.listen(data, listening)
                listening.transactionRunning.store(true, ordering: .releasing)
                let rules = Task {
                    try await request(
                        control, "rules", ["action": .string("insert"), "policy": .string("p"), "rule": .string("cnt(y) :- cnt(x), y = x + 1")],
                        timeoutMilliseconds: 120_000)
                }
                // Heartbeats heard well after the request went: the engine has read it and runs it.
                _ = try await eventually("heartbeats while the counter runs") { listening.heardDuring.load(ordering: .relaxed) >= 3 ? true : nil }
                engine.signal(SIGTERM)
                do {
                    let reply = try await rules.value
                    Issue.record("the counter was accepted: \(reply)")
                } catch let error as BusError {
                    #expect(error.code.rawValue == "too-expensive", "\(error)")
                    #expect(error.message.contains("asked to stop"), "\(error)")
                }
                #expect(try await engine.exit() == 0)
                listening.running.store(false, ordering: .releasing)
                try await listener.value
            }
        }

        /// The order the test saw its replies come in.
        final class ReplyOrder: Sendable {
            let replies = Mutex<[String]>([])
            func saw(_ reply: String) { replies.withLock { $0.append(reply) } }
            var seen: [String] { replies.withLock { $0 } }
        }

        /// A `status` sent while a transaction runs is answered in one of its
        /// pauses, before the transaction's reply, from the node's own state:
        /// `busy`, its tables' seqs and subscribers and its clients, without
        /// the rows or the engine's fields, which wait for the transaction.
        @Test func aStatusSentDuringALongTransactionIsAnsweredBeforeIt() async throws {
            try await withProcesses { processes in
                let (engine, control) = try await processes.engine(
                    "e", policies: [("p", Self.policy)], peers: [],
                    extra: ["--max-transaction-ms", "3000", "--max-derived-rows", "1000000000", "--lease-ms", "600000"])
                _ = try await request(control, "subscribe", ["tables": .array([.string("p:a")])])
                let order = ReplyOrder()
                let rules = Task {
                    defer { order.saw("rules") }
                    return try? await request(
                        control, "rules", ["action": .string("insert"), "policy": .string("p"), "rule": .string("cnt(y) :- cnt(x), y = x + 1")],
                        timeoutMilliseconds: 120_000)
                }
                // Statuses one after another, each on a connection of its own,
                // until one is answered busy or the transaction has replied.
                var busy: JSON?
                var asked = 0
                while busy == nil, order.seen.isEmpty {
                    let status = try await request(control, "status", timeoutMilliseconds: 120_000)
                    asked += 1
                    if status["busy"] == .bool(true) {
                        order.saw("status")
                        busy = status
                    }
                }
                let accepted = await rules.value
                #expect(accepted == nil, "the counter was accepted: \(String(describing: accepted))")
                #expect(order.seen == ["status", "rules"], "\(order.seen) after \(asked) statuses")
                let during = try #require(busy)
                print("LongWorkTests: a status answered in a pause after \(asked) asked, busy_ms \(during["busy_ms"]?.intValue ?? -1)")
                #expect((during["busy_ms"]?.intValue ?? -1) > 0, "\(during)")
                #expect(during["tables"]?["p:a"]?["seq"]?.intValue != nil, "\(during)")
                #expect(during["tables"]?["p:a"]?["subscribers"]?.intValue == 1, "\(during)")
                #expect(during["tables"]?["p:a"]?["rows"] == nil, "the engine's count, read in a pause: \(during)")
                #expect(during["triggers"] == nil && during["policies"] == nil, "the engine's fields, read in a pause: \(during)")
                #expect(during["subscriptions"]?.arrayValue?.count == 1, "the subscriber: \(during)")
                #expect((during["counters"]?["long_work_pauses"]?.intValue ?? 0) > 0, "\(during)")
                // After the transaction, the whole status again.
                let after = try await request(control, "status")
                #expect(after["busy"] == .bool(false) && after["busy_ms"] == nil, "\(after)")
                #expect(after["tables"]?["p:a"]?["rows"]?.intValue == 1, "\(after)")
                #expect(after["triggers"]?.arrayValue?.isEmpty == false, "\(after)")
                #expect(engine.isRunning)
            }
        }

        @Test func aLongTransactionKeepsHeartbeatsFlowingAndChangesNothing() async throws {
            try await withProcesses { processes in
                // Heartbeats every 500 ms: the subscriber resyncs after 1.5 s of
                // silence, well over a pause's spacing on a loaded machine.
                let (engine, control) = try await processes.engine(
                    "e", policies: [("p", Self.policy)], peers: [], extra: ["--max-transaction-ms", "3000", "--heartbeat-ms", "500"])
                let subscriber = try processes.subscriber(control, ["p:a"], extra: ["--timeout", "300"])
                _ = try await subscriber.jsonLine(0)
                let data = try #require(try await request(control, "hello")["data"]?.stringValue)

                let listening = Listening()
                let listener = try await Self.listen(data, listening)

                listening.transactionRunning.store(true, ordering: .releasing)
                let started = Date()
                let refusal: BusError?
                do {
                    _ = try await request(
                        control, "rules", ["action": .string("insert"), "policy": .string("p"), "rule": .string("cnt(y) :- cnt(x), y = x + 1")],
                        timeoutMilliseconds: 120_000)
                    refusal = nil
                } catch let error as BusError {
                    refusal = error
                }
                listening.transactionRunning.store(false, ordering: .releasing)
                let seconds = Date().timeIntervalSince(started)
                #expect(refusal?.code.rawValue == "too-expensive", "\(String(describing: refusal))")

                // Nothing earlier changed, and the subscriber of p:a is still in step: the next change reaches it as a delta.
                #expect(try await queryRows(control, "p:cnt") == [[.int(0)]])
                _ = try await request(control, "facts", ["action": .string("insert"), "table": .string("p:seen"), "rows": .array([.array([.string("y")])])])
                let lines = try await subscriber.waitFor("the delta after the refused change") { process in
                    let lines = process.stdoutLines
                    return (try? contents(from: lines, table: "p:a"))?.count == 2 ? lines : nil
                }
                let snapshots = try lines.map { try JSON.parse($0) }.filter { $0["kind"]?.stringValue == "snapshot" }
                #expect(snapshots.count == 1, "a second snapshot is a resync: \(lines)")

                listening.running.store(false, ordering: .releasing)
                try await listener.value
                let status = try await request(control, "status")
                let stall = status["loop_longest_stall_us"]?.intValue ?? 0
                let pauses = status["counters"]?["long_work_pauses"]?.intValue ?? 0
                let during = listening.heardDuring.load(ordering: .relaxed)
                print("LongWorkTests: the counter was refused after \(String(format: "%.1f", seconds)) s; \(during) messages of p:a heard meanwhile (heartbeat 500 ms); \(pauses) pauses; longest loop stall \(Double(stall) / 1000) ms")
                // One heartbeat may have been on its way when the request went;
                // more means the loop sent them while the transaction ran.
                #expect(during >= 2, "the subscriber heard \(during) messages while the transaction ran")
                #expect(pauses > 0)
                #expect(engine.isRunning)
            }
        }
    }
}
