import Foundation
import Monitoring
import PolicyBus
import PolicyEngine
import Testing
import TestSupport

extension ProcessSuites {
    /// The requests waiting at a node are bounded in bytes, not only in
    /// number: 50 requests of 10 MB from one DEALER took a data source to
    /// 887 MB of RSS (1000 could be queued, each up to the 16 MiB frame
    /// limit). Over `--max-queued-bytes` a request is refused `busy`.
    /// (libzmq's own buffer is set to its default here, 1000 requests per
    /// connection, so that the burst reaches the node's queue: with the
    /// node's default `--max-unread-requests` TCP holds most of it back.)
    @Suite(.serialized) struct QueuedBytesTests {
        static let pad = String(repeating: "x", count: 2_000_000)

        /// The first request's reply (it has no id) and the burst's: a
        /// `busy` goes when the request is read, which may be before the
        /// first's reply (read in its transaction's pauses).
        static func split(_ replies: [JSON?]) -> (first: JSON?, burst: [JSON?]) {
            (replies.first { $0?["id"] == nil } ?? nil, replies.filter { $0?["id"] != nil })
        }

        @Test func aBurstOfLargeRequestsIsQueuedUpToTheByteBound() async throws {
            try await withProcesses { processes in
                let (engine, endpoint) = try await processes.engine(
                    "e", policies: [("c", "n(0).")], peers: [],
                    extra: [
                        "--max-queued-bytes", "10000000", "--max-unread-requests", "1000", "--max-transaction-ms", "3000", "--max-derived-rows", "1000000000",
                        "--metrics", "127.0.0.1:*",
                    ])
                // The first request runs for its 3 s budget; the node reads the
                // burst behind it in the transaction's pauses, and refuses
                // what is over the bound then (before the first's reply).
                let stall: [[UInt8]] = [Array(#"{"op":"rules","action":"insert","policy":"c","rule":"n(y) :- n(x), y = x + 1"}"#.utf8)]
                let requests = [stall] + (0..<30).map { [Array(#"{"op":"hello","id":\#($0),"pad":"\#(Self.pad)"}"#.utf8)] }
                let (first, burst) = Self.split(try await offPool { try exchange(endpoint, requests, timeout: 120) })
                #expect(first?["error"]?["code"]?.stringValue == "too-expensive", "\(String(describing: first))")
                let served = burst.filter { $0?["ok"] == .bool(true) }.count
                let busy = burst.filter { $0?["error"]?["code"]?.stringValue == "busy" }
                // 2 MB each: four fit under 10 MB, the fifth would pass it.
                #expect(served == 4, "\(served) served, \(busy.count) busy")
                #expect(busy.count == 26)
                #expect(busy.first??["error"]?["message"]?.stringValue?.contains("bytes of waiting requests") == true, "\(String(describing: busy.first))")
                #expect(Set(burst.compactMap { $0?["id"]?.intValue }).count == 30, "every request got its own reply")
                // Refused before they are parsed, they are still counted under their op.
                let metrics = PrometheusSamples(parsing: try await httpGet(try await engine.metricsAddress(), "/metrics").body)
                #expect(metrics["policybus_requests_total", ["op": "hello", "code": "busy"]] == Double(busy.count), "\(metrics.values.keys.filter { $0.contains("busy") })")
                // Still serving, and the queue is empty again.
                let status = try await request(endpoint, "status")
                print("QueuedBytesTests: \(served) served, \(busy.count) busy; heap \(status["heap_bytes"]?.intValue ?? -1), resident \(status["resident_bytes"]?.intValue ?? -1) bytes")
                #expect(engine.isRunning)
            }
        }

        /// 50 requests of 10 MB sent at once from one DEALER took a data
        /// source to 456 MB of RSS: libzmq read them all (up to 1000 per
        /// connection) while the node served the first. Now libzmq holds at
        /// most `--max-unread-requests` per connection, and TCP the rest:
        /// the node's memory stays within the documented bound
        /// (PROTOCOL.md §9): the queue's bytes, plus (unread + 1) frames.
        @Test func aBurstOfTenMegabyteRequestsStaysWithinTheMemoryBound() async throws {
            try await withProcesses { processes in
                let (node, endpoint) = try await processes.engine(
                    "e", policies: [("c", "n(0).")], peers: [], extra: ["--max-transaction-ms", "3000", "--max-derived-rows", "1000000000"])
                _ = try await request(endpoint, "status")
                let base = try #require(node.memory("VmHWM"))
                // The first request runs for 3 s: the burst arrives meanwhile.
                let stall: [[UInt8]] = [Array(#"{"op":"rules","action":"insert","policy":"c","rule":"n(y) :- n(x), y = x + 1"}"#.utf8)]
                let pad = String(repeating: "x", count: 10_000_000)
                let requests = [stall] + (0..<50).map { [Array(#"{"op":"hello","id":\#($0),"pad":"\#(pad)"}"#.utf8)] }
                let replies = try await offPool { try exchange(endpoint, requests, timeout: 600) }
                let (first, burst) = Self.split(replies)
                #expect(first?["error"]?["code"]?.stringValue == "too-expensive", "\(String(describing: first))")
                #expect(burst.count == 50)
                #expect(burst.allSatisfy { $0?["ok"] == .bool(true) || $0?["error"]?["code"]?.stringValue == "busy" }, "\(replies.map { String(describing: $0).prefix(100) })")
                let peak = try #require(node.memory("VmHWM")) - base
                let limits = BusLimits()
                let bound = limits.maxQueuedBytes + Int(limits.maxUnreadRequests + 1) * pad.utf8.count
                print("QueuedBytesTests: 50 x 10 MB from one DEALER behind a 3 s request: peak RSS +\(peak >> 20) MiB over \(base >> 20) MiB; the bound \(bound >> 20) MiB; \(replies.filter { $0?["ok"] == .bool(true) }.count) served")
                // Twice the bound: room for the request being decoded and the
                // allocator's slack; all 50 held at once would be 500 MB.
                #expect(peak < 2 * bound, "peak +\(peak >> 20) MiB, bound \(bound >> 20) MiB")
                #expect(try await request(endpoint, "status")["ok"] == .bool(true))
                #expect(node.isRunning)
            }
        }
    }
}
