import Foundation
import PolicyBus
import PolicyEngine
import Testing
import ZeroMQ

/// A data source transaction is all-or-nothing, also into an empty table and
/// also when one of `publish`'s grouped lines does not parse.
@Suite struct DataSourceTransactionTests {
    /// The table's rows once `row` is among them (the lines before it were handled by then).
    func rows(_ endpoint: String, _ table: String, after row: [JSON]) async throws -> Set<[JSON]> {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let rows = try? await queryRows(endpoint, table), rows.contains(row) { return rows }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("\(table) never got \(row)")
        return []
    }

    @Test func aReplaceOfMixedArityIntoAnEmptyTableIsRejected() async throws {
        try await withProcesses { processes in
            let (_, control) = try await processes.dataSource("data")
            let mixed: JSON = .array([.array([.int(1)]), .array([.int(1), .int(2)])])
            await #expect(throws: (any Error).self) {
                _ = try await request(control, "facts", ["action": .string("replace"), "table": .string("data:t"), "rows": mixed])
            }
            _ = try await request(control, "facts", ["action": .string("insert"), "table": .string("data:t"), "rows": .array([.array([.int(7)])])])
            #expect(try await queryRows(control, "data:t") == [[.int(7)]])
        }
    }

    @Test func aGroupOfMixedArityIntoAnEmptyTableIsRejected() async throws {
        try await withProcesses { processes in
            let (data, control) = try await processes.dataSource("data")
            data.write("begin", "+u(1)", "+u(1, 2)", "commit", "+u(3)")
            #expect(try await rows(control, "data:u", after: [.int(3)]) == [[.int(3)]])
            #expect(data.stderrText.contains("error[arity-mismatch]"))
        }
    }

    @Test func aBadLineRejectsItsWholeGroupAndTheSourceKeepsServing() async throws {
        try await withProcesses { processes in
            let (data, control) = try await processes.dataSource("data")
            data.write("begin", "+v(1)", "+v(1", "+v(2)", "commit", "+v(3)")
            #expect(try await rows(control, "data:v", after: [.int(3)]) == [[.int(3)]])
            #expect(data.stderrText.contains("error[bad-transaction]"))
            #expect(data.isRunning)
        }
    }
}

/// A table a client opened at a data source by subscribing, and never written,
/// is closed (no longer listed nor heartbeated) when its last subscriber goes.
@Suite struct DataSourceSubscribedTableTests {
    func tableNames(_ client: ControlClient) throws -> [String] {
        (try client.request("tables")["tables"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    }

    @Test func anEmptyTableOpenedBySubscribingIsClosedByTheLastUnsubscribe() async throws {
        try await withProcesses { processes in
            let (_, control) = try await processes.dataSource("data", extra: ["--facts", try temporaryFile(#"{"s": [["a"]]}"#, suffix: ".json")])
            let names = try await offPool { () throws -> (during: [String], after: [String]) in
                let context = try ZeroMQ.Context()
                let client = try ControlClient(context: context, endpoint: control, timeoutMilliseconds: 5000)
                defer { client.close() }
                _ = try client.request("subscribe", ["tables": .array([.string("data:zzz"), .string("data:s")])])
                let during = try tableNames(client)
                _ = try client.request("unsubscribe", ["tables": .array([.string("data:zzz"), .string("data:s")])])
                return (during, try tableNames(client))
            }
            #expect(names.during.contains("data:zzz"))
            #expect(!names.after.contains("data:zzz"))
            #expect(names.after.contains("data:s"), "a table with rows stays")
        }
    }

    @Test func anEmptyTableOpenedBySubscribingIsClosedWhenTheLeaseExpires() async throws {
        try await withProcesses { processes in
            let (_, control) = try await processes.dataSource("data", extra: ["--lease-ms", "300"])
            _ = try await offPool { () throws -> JSON in
                let context = try ZeroMQ.Context()
                let client = try ControlClient(context: context, endpoint: control, timeoutMilliseconds: 5000)
                defer { client.close() }
                return try client.request("subscribe", ["tables": .array([.string("data:zzz")])])
            }
            let deadline = Date().addingTimeInterval(15)
            var names = ["data:zzz"]
            while names.contains("data:zzz") && Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
                names = (try await request(control, "tables")["tables"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            }
            #expect(!names.contains("data:zzz"), "the lease expired, so the empty table closed")
        }
    }
}
