import Foundation
import PolicyBus
import PolicyEngine
import Testing
import ZeroMQ

extension ProcessSuites {
    /// `subscribe` with `since`: the missed deltas instead of the table,
    /// when the table's history still has them all (issue 13).
    @Suite(.serialized) struct ResumeTests {
        /// Requests from one client id, in order, off the cooperative pool.
        func requests(_ endpoint: String, _ list: [(String, [String: JSON])]) async throws -> [Result<JSON, BusError>] {
            try await offPool {
                let context = try Context()
                let client = try ControlClient(context: context, endpoint: endpoint, timeoutMilliseconds: 30_000)
                defer { client.close() }
                return list.map { op, fields in
                    do throws(BusError) { return .success(try client.request(op, fields)) } catch { return .failure(error) }
                }
            }
        }

        func subscribe(since epoch: String, _ seq: Int64, tables: [String] = ["d:q"]) -> (String, [String: JSON]) {
            ("subscribe", ["tables": .array(tables.map { .string($0) }), "since": .object(["epoch": .string(epoch), "seq": .int(seq)])])
        }

        @Test func aSubscribeSinceGetsTheMissedDeltasWhileTheHistoryHasThem() async throws {
            try await withProcesses { processes in
                let (source, control) = try await processes.dataSource("d", extra: ["--history-deltas", "50"])
                let first = try await request(control, "subscribe", ["tables": .array([.string("d:q")])])
                let epoch = try #require(first["epoch"]?.stringValue)
                let start = try #require(first["tables"]?["d:q"]?["seq"]?.intValue)
                source.write((1...100).map { "+q(\($0))" }.joined(separator: "\n"))
                _ = try await eventually("d:q at seq \(start + 100)") { () async throws -> Bool? in
                    let tables = try await request(control, "tables")["tables"]?.arrayValue ?? []
                    return tables.first { $0["name"] == .string("d:q") }?["seq"]?.intValue == start + 100 ? true : nil
                }
                let replies = try await requests(control, [
                    subscribe(since: epoch, start + 60),
                    subscribe(since: epoch, start + 100),
                    subscribe(since: epoch, start),  // 100 missed; the history holds 50
                    subscribe(since: "0000000000000000", start + 60),
                    subscribe(since: epoch, start + 60, tables: ["d:q", "d:r"]),
                ])
                let resumed = try #require(try replies[0].get()["tables"]?["d:q"])
                #expect(resumed["resumed"] == .bool(true))
                #expect(resumed["rows"] == nil)
                #expect(resumed["seq"] == .int(start + 100))
                let deltas = resumed["deltas"]?.arrayValue ?? []
                #expect(deltas.compactMap { $0["seq"]?.intValue } == Array(start + 61...start + 100))
                #expect(deltas.first?["added"] == .array([.array([.int(61)])]))
                let current = try #require(try replies[1].get()["tables"]?["d:q"])
                #expect(current["resumed"] == .bool(true))
                #expect(current["deltas"] == .array([]))
                for (reply, why) in [(replies[2], "past the history"), (replies[3], "another epoch")] {
                    let snapshot = try #require(try reply.get()["tables"]?["d:q"], "\(why)")
                    #expect(snapshot["resumed"] == .bool(false), "\(why)")
                    #expect(snapshot["rows"]?.arrayValue?.count == 100, "\(why)")
                }
                #expect(throws: BusError.self) { try replies[4].get() }
                if case .failure(let error) = replies[4] { #expect(error.code == .badRequest) }
            }
        }

        /// The `subscribe` client resyncs with `since` after its lease was
        /// lost (the node forgot it): the table is in the same epoch, so it
        /// resumes, and prints no second snapshot.
        @Test func theSubscribeClientResumesAfterALostLease() async throws {
            try await withProcesses { processes in
                let (source, control) = try await processes.dataSource("d", extra: ["--lease-ms", "1000"])
                let subscriber = try processes.subscriber(control, ["d:q"], extra: ["--timeout", "300", "--verbose"])
                _ = try await subscriber.jsonLine(0)
                subscriber.signal(SIGSTOP)
                source.write("+q(1)")
                _ = try await eventually("the stopped subscriber's lease to end") { () async throws -> Bool? in
                    let status = try await request(control, "status")
                    return status["subscriptions"]?.arrayValue?.isEmpty == true ? true : nil
                }
                subscriber.signal(SIGCONT)
                #expect(try await subscriber.stderrContains("resumed at seq"))
                source.write("+q(2)")
                _ = try await subscriber.waitFor("q = {1, 2}") { process in
                    (try? contents(from: process.stdoutLines, table: "d:q")) == [[.int(1)], [.int(2)]] ? true : nil
                }
                #expect(subscriber.stdoutLines.filter { $0.contains("\"snapshot\"") }.count == 1)
            }
        }
    }
}
