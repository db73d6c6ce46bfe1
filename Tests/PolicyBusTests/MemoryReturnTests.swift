import Foundation
import PolicyBus
import PolicyEngine
import Testing
import ZeroMQ

extension ProcessSuites {
    /// Issue 12: after the clients that held state are gone, a node's memory
    /// comes back. 200 clients with maximal (128-byte) ids subscribe, stay
    /// connected while the node's live heap is read, and vanish without
    /// unsubscribing; after their leases ran out the live heap (`status`'s
    /// `heap_bytes`, glibc's `mallinfo2`) is back near where it was before
    /// them. A first round warms the node up (its dictionaries keep their
    /// capacity, by design); the second is measured.
    @Suite struct MemoryReturnTests {
        static let clients = 200

        @Test func theLiveHeapComesBackAfterTwoHundredMaximalClientsVanish() async throws {
            try await withProcesses { processes in
                let policy = (0..<2000).map { "q(\($0))." }.joined(separator: "\n") + "\n" + (0..<20).map { "t\($0)(x) :- q(x), gt(x, \($0 * 50))." }.joined(separator: "\n")
                let (_, control) = try await processes.engine("E", policies: [("c", policy)], peers: [], extra: ["--lease-ms", "1000"])
                var figures: [(baseline: Memory, peak: Memory, after: Memory)] = []
                for round in 1...2 {
                    let trims = try await request(control, "status")["counters"]?["memory_trims"]?.intValue ?? 0
                    let baseline = try await memory(control)
                    let peak = try await offPool { try Self.subscribeAndVanish(control, round: round) }
                    // The allocator is trimmed at a tick after leases end, so
                    // that the resident set follows the heap down; how far it
                    // does is printed, not asserted (the allocator decides).
                    _ = try await eventually("round \(round)'s leases to expire and the allocator to be trimmed") {
                        let counters = try await request(control, "status")["counters"]
                        let expired = (counters?["lease_expiries"]?.intValue ?? 0) >= Int64(round * Self.clients)
                        return expired && (counters?["memory_trims"]?.intValue ?? 0) > trims ? true : nil
                    }
                    figures.append((baseline, peak, try await memory(control)))
                }
                for (round, figure) in figures.enumerated() {
                    print(
                        "MemoryReturnTests round \(round + 1): live heap \(figure.baseline.heap / 1024) KiB before, \(figure.peak.heap / 1024) KiB with \(Self.clients) clients, \(figure.after.heap / 1024) KiB after their leases; resident \(figure.baseline.resident / 1024), \(figure.peak.resident / 1024), \(figure.after.resident / 1024) KiB"
                    )
                }
                let measured = try #require(figures.last)
                let grown = measured.peak.heap - measured.baseline.heap
                #expect(grown > 0, "the clients took no memory: the test measures nothing")
                let kept = measured.after.heap - measured.baseline.heap
                #expect(kept < max(grown / 4, 256 << 10), "kept \(kept) of the \(grown) bytes the clients took")
            }
        }

        /// Rows of big unique strings written into an engine and deleted
        /// again: the values go with the rows (the value pool frees what no
        /// row or rule holds at the end of each transaction), so the live heap
        /// comes back. The delta history (`--history-bytes`) is kept small,
        /// since it holds recent deltas' rows by design.
        @Test func deletedRowsGiveBackTheirValues() async throws {
            try await withProcesses { processes in
                let (_, control) = try await processes.engine("E", policies: [("c", "q(1).")], peers: [], extra: ["--history-bytes", "65536"])
                var figures: [(baseline: Memory, peak: Memory, after: Memory)] = []
                for round in 1...2 {
                    let rows: [JSON] = (0..<100).map { index in
                        .array([.int(Int64(index)), .string("r\(round)-\(index)-" + String(repeating: "x", count: 64 << 10))])
                    }
                    let baseline = try await memory(control)
                    for action in ["insert", "delete"] {
                        let reply = try await request(control, "facts", ["action": .string(action), "table": .string("c:big"), "rows": .array(rows)])
                        #expect(reply["ok"] == .bool(true), "\(reply)")
                        if action == "insert" { figures.append((baseline, try await memory(control), baseline)) }
                    }
                    figures[figures.count - 1].after = try await memory(control)
                }
                for (round, figure) in figures.enumerated() {
                    print(
                        "MemoryReturnTests deleted rows round \(round + 1): live heap \(figure.baseline.heap / 1024) KiB before, \(figure.peak.heap / 1024) KiB with 100 rows of 64 KiB strings, \(figure.after.heap / 1024) KiB after their deletion"
                    )
                }
                let measured = try #require(figures.last)
                let grown = measured.peak.heap - measured.baseline.heap
                #expect(grown > 6 << 20, "the rows took \(grown) bytes: the test measures nothing")
                let kept = measured.after.heap - measured.baseline.heap
                #expect(kept < max(grown / 8, 512 << 10), "kept \(kept) of the \(grown) bytes the rows took")
            }
        }

        struct Memory: Sendable {
            var heap: Int
            var resident: Int

            init(status: JSON) throws {
                guard let heap = status["heap_bytes"]?.intValue, let resident = status["resident_bytes"]?.intValue else {
                    throw TimeoutError(what: "heap_bytes and resident_bytes in \(status)")
                }
                (self.heap, self.resident) = (Int(heap), Int(resident))
            }
        }

        func memory(_ control: String) async throws -> Memory {
            try Memory(status: try await request(control, "status", ["limit": .int(0)]))
        }

        /// Connects `clients` DEALERs with 128-byte client ids, subscribes
        /// each to two tables, reads the node's live heap while they are all
        /// connected, then closes them without unsubscribing.
        /// - Returns: the node's memory with the clients.
        static func subscribeAndVanish(_ endpoint: String, round: Int) throws -> Memory {
            let context = try ZeroMQ.Context()
            var sockets: [Socket] = []
            defer { for socket in sockets { socket.close() } }
            for index in 0..<clients {
                let socket = try Socket(context, .dealer)
                try socket.set(.linger, 0)
                try socket.connect(endpoint)
                sockets.append(socket)
                let id = "r\(round)-\(index)-"
                let client = id + String(repeating: "x", count: 128 - id.utf8.count)
                let tables: [JSON] = [.string("c:q"), .string("c:t\(index % 20)")]
                try socket.send([ControlRequest.frame(op: "subscribe", id: Int64(index), client: client, fields: ["tables": .array(tables)])])
            }
            var answered = 0
            var poller = Poller()
            for socket in sockets { poller.add(socket) }
            let deadline = monotonicNanoseconds() + .milliseconds(60_000)
            while answered < clients {
                guard monotonicNanoseconds() < deadline else { throw TimeoutError(what: "\(answered) of \(clients) subscribe replies") }
                try poller.poll(timeout: 1000)
                for socket in sockets {
                    while let frames = try socket.tryReceive() {
                        let reply = try JSON.parse(frames.last ?? [])
                        guard reply["ok"] == .bool(true) else { throw TimeoutError(what: "a subscribe refused: \(reply)") }
                        answered += 1
                    }
                }
            }
            let status = try ControlClient(context: context, endpoint: endpoint, timeoutMilliseconds: 30_000)
            defer { status.close() }
            return try Memory(status: try status.request("status", ["limit": .int(0)]))
        }
    }
}
