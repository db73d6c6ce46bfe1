import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// A table of many chunks over tcp, with the built binary: it syncs at a
    /// `subscribe` client and at a peer engine, equal to `query`, while the
    /// node keeps heartbeating its other tables; a client that vanishes
    /// mid-stream costs its capture only until its idle time (issue 13).
    @Suite struct ChunkedSnapshotProcessTests {
        static let rows = 20_000

        func factsFile() throws -> String {
            let rows = (0..<Self.rows).map { "[\"k\($0)\", \($0)]" }.joined(separator: ",")
            return try temporaryFile("{\"q\": [\(rows)], \"r\": [[1]]}", suffix: ".json")
        }

        @Test func aTableOfManyChunksSyncsAtASubscriberAndAPeerEngine() async throws {
            try await withProcesses { processes in
                let chunking = ["--snapshot-chunk-bytes", "4096", "--lease-ms", "2000"]
                // Heartbeats every 500 ms (the last --heartbeat-ms counts): the
                // subscriber's silence limit, 1.5 s, stays well over what a
                // loaded 2-core machine may keep a process waiting; at 200 ms
                // (a 600 ms limit) it resynced once in a full run.
                let (_, source) = try await processes.dataSource("d", extra: ["--facts", try factsFile(), "--heartbeat-ms", "500"] + chunking)
                // A subscriber of another table: the node's heartbeats go on meanwhile.
                let other = try processes.subscriber(source, ["d:r"], extra: ["--timeout", "300"])
                _ = try await other.jsonLine(0)
                let (engineProcess, engine) = try await processes.engine(
                    "E", policies: [("c", "seen(x, n) :- d:q(x, n)")], peers: [("d", source)], extra: chunking)
                let direct = try processes.subscriber(source, ["d:q"], extra: ["--timeout", "300"])
                let derived = try processes.subscriber(engine, ["c:seen"], extra: ["--timeout", "300"])

                let expected = try await queryRows(source, "d:q")
                #expect(expected.count == Self.rows)
                let snapshot = try await direct.jsonLine(0)
                #expect(snapshot["kind"] == .string("snapshot"))
                #expect(Set((snapshot["rows"]?.arrayValue ?? []).compactMap(\.arrayValue)) == expected)
                let fromEngine = try await derived.jsonLine(0)
                #expect(Set((fromEngine["rows"]?.arrayValue ?? []).compactMap(\.arrayValue)) == expected)
                #expect(try await queryRows(engine, "c:seen") == expected)

                let status = try await request(source, "status")
                let chunks = status["counters"]?["snapshot_chunks"]?.intValue ?? 0
                #expect(chunks > 2 * Int64(Self.rows * 10 / 4096), "\(chunks) chunks for two snapshots of \(Self.rows) rows")
                print("ChunkedSnapshotProcessTests: \(chunks) chunks; longest loop stall \(status["loop_longest_stall_us"]?.intValue ?? -1) µs")
                #expect(!other.stderrText.contains("resync"), "\(other.stderrText)")
                // The engine logs how long the peer table took to sync (issue 13).
                let synced = engineProcess.stderrText.split(separator: "\n").first { $0.contains("peer table synced") && $0.contains("table=d:q") }
                #expect(synced?.contains("rows=\(Self.rows)") == true, "\(engineProcess.stderrText)")
                #expect(synced?.contains("sync.ms=") == true, "\(String(describing: synced))")
            }
        }

        /// Chunks larger than the reply limit of other ops still go out:
        /// `--snapshot-chunk-bytes` bounds them. The node refused every one
        /// `reply-too-large`, and the subscriber asked for a new snapshot
        /// without end, printing nothing.
        @Test func chunksOverTheReplyLimitStillGoOut() async throws {
            try await withProcesses { processes in
                let (_, source) = try await processes.dataSource(
                    "d", extra: ["--facts", try factsFile(), "--snapshot-chunk-bytes", "65536", "--max-reply-bytes", "16384"])
                let subscriber = try processes.subscriber(source, ["d:q"], extra: ["--timeout", "300"])
                let snapshot = try await subscriber.jsonLine(0)
                #expect(snapshot["kind"] == .string("snapshot"))
                #expect(snapshot["rows"]?.arrayValue?.count == Self.rows)
                let status = try await request(source, "status", ["limit": .int(1)])
                #expect((status["counters"]?["snapshot_chunks"]?.intValue ?? 0) >= 2, "\(status)")
                #expect(!subscriber.stderrText.contains("resync"), "\(subscriber.stderrText)")
            }
        }

        /// A table has at most 4 captures at once (each at another seq); a
        /// `subscribe` needing a fifth is `busy` and subscribes the client to
        /// none of its tables, not even those before the busy one.
        @Test func aFifthCaptureIsBusyAndSubscribesNothing() async throws {
            try await withProcesses { processes in
                let (_, source) = try await processes.dataSource(
                    "d", extra: ["--facts", try factsFile(), "--snapshot-chunk-bytes", "4096", "--lease-ms", "120000"])
                for index in 0..<SnapshotCaptures.defaultPerTable {
                    // Each client reads no chunk: its capture stays; then d:q moves on a seq.
                    let reply = try await request(source, "subscribe", ["tables": .array([.string("d:q")])])
                    #expect(reply["tables"]?["d:q"]?["chunked"] != nil, "\(reply)")
                    _ = try await request(source, "facts", ["action": .string("insert"), "table": .string("d:q"), "rows": .array([.array([.string("new\(index)"), .int(-1)])])])
                }
                let before = try await request(source, "status")
                #expect(before["counters"]?["snapshots_held"] == .int(Int64(SnapshotCaptures.defaultPerTable)))
                do {
                    let reply = try await request(source, "subscribe", ["tables": .array([.string("d:r"), .string("d:q")])])
                    Issue.record("expected busy, got \(reply)")
                } catch {
                    #expect((error as? BusError)?.code == .busy, "\(error)")
                }
                let status = try await request(source, "status")
                // Client ids and their tables, without the leases' time left.
                func subscribed(_ status: JSON) -> [String: JSON] {
                    Dictionary(uniqueKeysWithValues: (status["subscriptions"]?.arrayValue ?? []).map { ($0["client"]?.stringValue ?? "", $0["tables"] ?? .null) })
                }
                #expect(subscribed(status) == subscribed(before), "\(status)")
                #expect(subscribed(status).count == SnapshotCaptures.defaultPerTable, "\(status)")
                // d:r, which the refused request named first, opened no table.
                #expect(status["tables"]?["d:r"]?["subscribers"] == nil || status["tables"]?["d:r"]?["subscribers"] == .int(0), "\(status)")
            }
        }

        @Test func aClientThatVanishesMidStreamFreesTheCapture() async throws {
            try await withProcesses { processes in
                let (_, source) = try await processes.dataSource(
                    "d", extra: ["--facts", try factsFile(), "--snapshot-chunk-bytes", "4096", "--lease-ms", "1000"])
                let reply = try await request(source, "subscribe", ["tables": .array([.string("d:q")])])
                let chunked = try #require(reply["tables"]?["d:q"]?["chunked"], "\(reply)")
                #expect(reply["tables"]?["d:q"]?["rows"] == nil)
                #expect(chunked["rows"] == .int(Int64(Self.rows)))
                let id = try #require(chunked["snapshot"]?.stringValue)
                let chunk = try await request(source, "snapshot-chunk", ["snapshot": .string(id), "offset": .int(0)])
                #expect((chunk["more"]?.intValue ?? 0) > 0)
                #expect(try await request(source, "status")["counters"]?["snapshots_held"] == .int(1))
                // The client reads no more: the capture goes after the idle time.
                _ = try await eventually("the capture dropped") { () async throws -> Bool? in
                    try await request(source, "status")["counters"]?["snapshots_held"] == .int(0) ? true : nil
                }
                do {
                    _ = try await request(source, "snapshot-chunk", ["snapshot": .string(id), "offset": .int(0)])
                    Issue.record("a dropped snapshot was served")
                } catch let error as BusError {
                    #expect(error.code == .snapshotGone)
                }
            }
        }
    }
}
