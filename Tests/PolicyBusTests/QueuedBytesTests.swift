import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// The requests waiting at a node are bounded in bytes, not only in
    /// number: 50 requests of 10 MB from one DEALER took a data source to
    /// 887 MB of RSS (1000 could be queued, each up to the 16 MiB frame
    /// limit). Over `--max-queued-bytes` a request is refused `busy`.
    @Suite(.serialized) struct QueuedBytesTests {
        static let pad = String(repeating: "x", count: 2_000_000)

        @Test func aBurstOfLargeRequestsIsQueuedUpToTheByteBound() async throws {
            try await withProcesses { processes in
                let (engine, endpoint) = try await processes.engine(
                    "e", policies: [("c", "n(0).")], peers: [],
                    extra: ["--max-queued-bytes", "10000000", "--max-transaction-ms", "3000", "--max-derived-rows", "1000000000"])
                // The first request holds the loop for its 3 s budget, so the
                // burst behind it waits in full when the node reads it.
                let stall: [[UInt8]] = [Array(#"{"op":"rules","action":"insert","policy":"c","rule":"n(y) :- n(x), y = x + 1"}"#.utf8)]
                let requests = [stall] + (0..<30).map { [Array(#"{"op":"hello","id":\#($0),"pad":"\#(Self.pad)"}"#.utf8)] }
                let replies = try await offPool { try exchange(endpoint, requests, timeout: 120) }
                #expect(replies.first??["error"]?["code"]?.stringValue == "too-expensive", "\(String(describing: replies.first))")
                let burst = replies.dropFirst()
                let served = burst.filter { $0?["ok"] == .bool(true) }.count
                let busy = burst.filter { $0?["error"]?["code"]?.stringValue == "busy" }
                // 2 MB each: four fit under 10 MB, the fifth would pass it.
                #expect(served == 4, "\(served) served, \(busy.count) busy")
                #expect(busy.count == 26)
                #expect(busy.first??["error"]?["message"]?.stringValue?.contains("bytes of waiting requests") == true, "\(String(describing: busy.first))")
                #expect(Set(burst.compactMap { $0?["id"]?.intValue }).count == 30, "every request got its own reply")
                // Still serving, and the queue is empty again.
                let status = try await request(endpoint, "status")
                print("QueuedBytesTests: \(served) served, \(busy.count) busy; heap \(status["heap_bytes"]?.intValue ?? -1), resident \(status["resident_bytes"]?.intValue ?? -1) bytes")
                #expect(engine.isRunning)
            }
        }
    }
}
