import Foundation
import PolicyBus
import PolicyEngine
import Testing
import ZeroMQ

extension ProcessSuites {
    /// Issue 12: one client's burst cannot starve another's requests, nor
    /// the node's heartbeats. A node queues each connection's requests
    /// (`busy` over `--max-queued-requests`), serves the connections
    /// round-robin and turns to its timers after each loop budget. (With
    /// libzmq's default buffer, 1000 unread requests per connection, so that
    /// the burst reaches the node's queue and its bound.)
    @Suite struct FairnessTests {
        static let rows = 20_000
        static let burst = 300
        static let cheap = 20
        static let queueBound = 100

        /// What the two clients saw, in the order their replies arrived.
        struct Race: Sendable {
            /// Burst replies answered `ok` before the cheap requests were sent.
            var servedBeforeCheapSent = 0
            /// Burst replies answered `ok` before the first cheap reply, and before the last.
            var servedBeforeCheapReplies: [Int] = []
            var served = 0
            var busy = 0
            var busyReply: JSON?
        }

        @Test func aBurstOfExpensiveRequestsDoesNotStarveCheapOnesOrTheHeartbeats() async throws {
            try await withProcesses { processes in
                let (_, control) = try await processes.engine("E", policies: [("c", "hb(1).\nvm(\"k\", 0).")], peers: [], extra: ["--max-queued-requests", "\(Self.queueBound)", "--max-unread-requests", "1000"])
                let rows: [JSON] = (0..<Self.rows).map { .array([.string("k\($0)"), .int(Int64($0))]) }
                _ = try await request(control, "facts", ["action": .string("insert"), "table": .string("c:vm"), "rows": .array(rows)])
                // The table sorted once (a query sorts a changed table a step at a
                // time first, between other requests): the burst's queries then each scan it.
                _ = try await request(control, "query", ["query": .string("c:vm(x, 7)")])
                let subscriber = try processes.subscriber(control, ["c:hb"])
                _ = try await subscriber.jsonLine(0)

                let race = try await offPool { try Self.race(control) }
                let (first, last) = (race.servedBeforeCheapReplies.first ?? 0, race.servedBeforeCheapReplies.last ?? 0)
                print(
                    "FairnessTests: \(race.served) of the burst served, \(race.busy) busy; of the burst, \(first - race.servedBeforeCheapSent) served between the cheap requests and their first reply, \(last - first) between their first and last")

                #expect(race.served + race.busy == Self.burst)
                // Every request the queue took was served, and it took its bound's worth.
                #expect(race.served >= Self.queueBound)
                #expect(race.busy > 0, "\(Self.burst) requests at once, over the bound of \(Self.queueBound)")
                let error = race.busyReply?["error"]
                #expect(error?["code"]?.stringValue == "busy", "\(race.busyReply.map { "\($0)" } ?? "no busy reply")")
                #expect(error?["message"]?.stringValue?.isEmpty == false)
                // Round-robin: the cheap requests were served between the
                // burst's, one for one; behind the burst (a FIFO) they would
                // all have come after it.
                #expect(race.served - last > 0, "the cheap requests waited for the whole burst: \(race)")
                #expect(last - first >= Self.cheap / 2, "the cheap requests went in a row, not in turn with the burst: \(race)")

                // The node kept sending heartbeats: no silence resync, one snapshot.
                let lines = subscriber.stdoutLines.filter { !$0.isEmpty }
                #expect(lines.count == 1, "one snapshot and no resync: \(lines)")
                #expect(!subscriber.stderrText.contains("resync"), "\(subscriber.stderrText)")
            }
        }

        /// One connection fires `burst` queries that scan the whole of `c:vm`
        /// without waiting; after its first reply, another sends `cheap`
        /// `hello`s. Counts the burst's replies around the cheap ones.
        static func race(_ endpoint: String) throws -> Race {
            let context = try ZeroMQ.Context()
            let bursting = try Socket(context, .dealer)
            let cheap = try Socket(context, .dealer)
            defer {
                bursting.close()
                cheap.close()
            }
            for socket in [bursting, cheap] {
                try socket.set(.linger, 0)
                try socket.connect(endpoint)
            }
            for id in 0..<burst {
                try bursting.send([ControlRequest.frame(op: "query", id: Int64(id), client: "burst", fields: ["query": .string("c:vm(x, 7)")])])
            }
            var race = Race()
            var cheapSent = false
            let deadline = monotonicNanoseconds() + .milliseconds(120_000)
            var poller = Poller()
            poller.add(bursting)
            poller.add(cheap)
            while race.served + race.busy < burst || race.servedBeforeCheapReplies.count < Self.cheap {
                guard monotonicNanoseconds() < deadline else { throw TimeoutError(what: "the burst's replies: \(race)") }
                try poller.poll(timeout: 1000)
                while let frames = try bursting.tryReceive() {
                    let reply = try JSON.parse(frames.last ?? [])
                    if reply["ok"] == .bool(true) {
                        race.served += 1
                    } else {
                        race.busy += 1
                        race.busyReply = race.busyReply ?? reply
                    }
                }
                if !cheapSent, race.served > 0 {
                    race.servedBeforeCheapSent = race.served
                    for id in 0..<Self.cheap { try cheap.send([ControlRequest.frame(op: "hello", id: Int64(id), client: "cheap")]) }
                    cheapSent = true
                }
                while try cheap.tryReceive() != nil { race.servedBeforeCheapReplies.append(race.served) }
            }
            return race
        }
    }
}
