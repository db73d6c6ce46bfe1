import Foundation
import PolicyBus
import PolicyEngine
import Testing
import ZeroMQ

/// Control requests against real processes: malformed input gets a stable
/// code and changes nothing; rules drive remote subscriptions; columns flow
/// from a data source's schema into rules.
@Suite(.serialized) struct BusControlTests {
    /// Sends raw multipart messages from one DEALER and returns each reply's parsed JSON.
    func raw(_ endpoint: String, _ messages: [[[UInt8]]]) async throws -> [JSON] {
        try await offPool {
            let context = try Context()
            let dealer = try Socket(context, .dealer)
            defer { dealer.close() }
            try dealer.connect(endpoint)
            var replies: [JSON] = []
            var poller = Poller()
            poller.add(dealer)
            for message in messages {
                try dealer.send(message)
                let deadline = Date().addingTimeInterval(15)
                var reply: [[UInt8]]?
                while reply == nil, Date() < deadline {
                    try poller.poll(timeout: 100)
                    reply = try dealer.tryReceive()
                }
                let frames = try #require(reply)
                replies.append(try JSON.parse(try #require(frames.last)))
            }
            return replies
        }
    }

    func code(_ reply: JSON) -> String? { reply["error"]?["code"]?.stringValue }

    @Test func malformedRequestsGetStableCodesAndChangeNothing() async throws {
        try await withProcesses { processes in
            let (_, engine) = try await processes.engine("engine", policies: [("alice", "p(1)")], peers: [])
            let text = { (string: String) in [Array(string.utf8)] }
            let replies = try await raw(engine, [
                [Array("{\"op\":\"hello\"}".utf8), Array("extra".utf8)],
                text("not json"),
                [[0x7B, 0x22, 0xFF, 0x22, 0x7D]],
                text("[1,2]"),
                text("{\"id\":9}"),
                text("{\"op\":\"fly\",\"id\":\"x\"}"),
                text("{\"op\":\"subscribe\",\"tables\":\"alice:p\"}"),
                text("{\"op\":\"subscribe\",\"tables\":[\"alice\"]}"),
                text("{\"op\":\"subscribe\",\"tables\":[\"alice:\(String(repeating: "p", count: 300))\"]}"),
                text("{\"op\":\"subscribe\",\"tables\":[\"alice:p\",\"bob:q\"]}"),
                text("{\"op\":\"facts\",\"action\":\"insert\",\"table\":\"alice:p\",\"rows\":[[true]]}"),
                text("{\"op\":\"facts\",\"action\":\"insert\",\"table\":\"alice:p\",\"rows\":[[1,2]]}"),
                text("{\"op\":\"rules\",\"action\":\"insert\",\"policy\":\"alice\",\"rule\":\"q(x) :- \"}"),
                text("{\"op\":\"rules\",\"action\":\"insert\",\"policy\":\"alice\",\"rule\":\"q(x) :- r(y)\"}"),
                text("{\"op\":\"rules\",\"action\":\"insert\",\"policy\":\"nobody\",\"rule\":\"q(1)\"}"),
                text("{\"op\":\"query\",\"query\":\"bob:nothing(x)\"}"),
                text("{\"op\":\"query\",\"query\":5}"),
                text("{\"op\":\"status\",\"id\":[1,{\"a\":null}]}"),
            ])
            #expect(replies.map(code) == [
                "bad-frames", "bad-json", "bad-json", "bad-request", "bad-request", "unknown-op", "bad-request",
                "bad-table-name", "bad-table-name", "unknown-policy", "bad-request", "arity-mismatch", "syntax-error",
                "unsafe-variable", "unknown-policy", "unknown-table", "bad-request", nil,
            ])
            #expect(replies[5]["id"] == .string("x"))
            #expect(replies[17]["id"] == .array([.int(1), .object(["a": .null])]))
            // Nothing changed: no subscription (the all-or-nothing subscribe
            // did not keep alice:p), no trigger, the rules and facts as loaded.
            let status = replies[17]
            #expect(status["subscriptions"]?.arrayValue == [])
            #expect(status["triggers"]?.arrayValue == [])
            #expect(try await queryRows(engine, "alice:p(x)") == [[.int(1)]])
            #expect(try await request(engine, "rules", ["action": .string("list"), "policy": .string("alice")])["rules"]?.arrayValue?.count == 0)
        }
    }

    @Test func badPublishLinesAreReportedAndSkipped() async throws {
        try await withProcesses { processes in
            let (data, dataControl) = try await processes.dataSource("data")
            data.write("garbage", "+q(1)", "+q(1, 2)", "+q(true)", "replace q nope", "+bad name(1)", "begin", "+q(5)", "+q(6, 7)", "commit")
            _ = try await data.waitFor("errors on stderr") { process in
                process.stderrText.components(separatedBy: "error[").count - 1 >= 6 ? true : nil
            }
            let errors = data.stderrText
            #expect(errors.contains("error[syntax-error]"))
            #expect(errors.contains("error[arity-mismatch]"))
            // The bad transaction (begin ... commit with a wrong row) left nothing.
            #expect(try await queryRows(dataControl, "data:q") == [[.int(1)]])
            #expect(data.isRunning)
        }
    }

    @Test func rulesDecideTheRemoteSubscriptions() async throws {
        try await withProcesses { processes in
            let (data, dataControl) = try await processes.dataSource("data")
            let (_, engine) = try await processes.engine("engine", policies: [("k", "")], peers: [("data", dataControl)])
            data.write("+a(1)", "+b(2)")
            func remote() async throws -> [String] {
                guard case .object(let tables)? = try await request(engine, "status")["remote"] else { return [] }
                return tables.keys.sorted()
            }
            #expect(try await remote() == [])
            _ = try await request(engine, "rules", ["action": .string("insert"), "policy": .string("k"), "rule": .string("x(v) :- data:a(v)")])
            #expect(try await remote() == ["data:a"])
            _ = try await request(engine, "rules", ["action": .string("insert"), "policy": .string("k"), "rule": .string("y(v) :- data:b(v)")])
            #expect(try await remote() == ["data:a", "data:b"])
            // The remote table's rows arrive through the subscription.
            var rows: Set<[JSON]> = []
            _ = try await eventually("k:y to get data:b's row (has \(rows))") {
                rows = try await queryRows(engine, "k:y(v)")
                return rows.isEmpty ? nil : true
            }
            #expect(rows == [[.int(2)]])
            _ = try await request(engine, "rules", ["action": .string("delete"), "policy": .string("k"), "rule": .string("x(v) :- data:a(v)")])
            #expect(try await remote() == ["data:b"])
            // The data source sees the engine's subscription go: the engine's
            // unsubscribe travels on its own connection, so it may land after
            // the rules reply.
            var subscribers: [String: JSON] = [:]
            _ = try await eventually("data:a to lose its subscriber (subscribers: \(subscribers))") {
                let tables = try await request(dataControl, "tables")["tables"]?.arrayValue ?? []
                for table in tables { subscribers[table["name"]?.stringValue ?? ""] = table["subscribers"] }
                return subscribers["data:a"] == .int(0) ? true : nil
            }
            #expect(subscribers["data:a"] == .int(0))
            #expect(subscribers["data:b"] == .int(1))
        }
    }

    @Test func schemaColumnsReachRules() async throws {
        try await withProcesses { processes in
            let schema = try temporaryFile("{\"servers\": [\"id\", \"host\"]}", suffix: ".json")
            let facts = try temporaryFile("{\"servers\": [[\"vm1\", \"h1\"], [\"vm2\", \"h2\"]]}", suffix: ".json")
            let (_, novaControl) = try await processes.dataSource("nova", extra: ["--schema", schema, "--facts", facts])
            let (_, engine) = try await processes.engine(
                "engine", policies: [("alice", "on_h1(vm) :- nova:servers(id=vm, host=\"h1\")")], peers: [("nova", novaControl)])
            let subscriber = try processes.subscriber(engine, ["alice:on_h1"], extra: ["--timeout", "300"])
            var latest: Set<[JSON]> = []
            _ = try await eventually("alice:on_h1 = {vm1} at the subscriber (has \(latest))") {
                latest = try contents(from: subscriber.stdoutLines, table: "alice:on_h1")
                return latest == [[.string("vm1")]] ? true : nil
            }
            #expect(latest == [[.string("vm1")]])
            let tables = try await request(novaControl, "tables")["tables"]?.arrayValue ?? []
            #expect(tables.first?["columns"] == .array([.string("id"), .string("host")]))
        }
    }
}

extension BusControlTests {
    /// `tables` says what PROTOCOL.md section 4 says: seq 0 once a table is
    /// no longer published, and no columns for an engine's derived table.
    @Test func tablesShowsSeqZeroForUnpublishedTablesAndNoColumnsForDerivedOnes() async throws {
        try await withProcesses { processes in
            let (_, engine) = try await processes.engine("engine", policies: [("k", "p(x, y) :- q(x, y)")], peers: [])
            // One client for the subscribe and the unsubscribe (`request` makes a new id each time).
            let subscription = try await offPool { () throws -> (subscribed: JSON, unsubscribed: JSON) in
                let context = try Context()
                let client = try ControlClient(context: context, endpoint: engine, timeoutMilliseconds: 30_000)
                defer { client.close() }
                let tables: [String: JSON] = ["tables": .array([.string("k:p")])]
                _ = try client.request("subscribe", tables)
                _ = try client.request("facts", ["action": .string("insert"), "table": .string("k:q"), "rows": .array([.array([.int(1), .int(2)])])])
                let subscribed = try client.request("tables")
                _ = try client.request("unsubscribe", tables)
                return (subscribed, try client.request("tables"))
            }
            let entry = { (reply: JSON) in reply["tables"]?.arrayValue?.first { $0["name"] == .string("k:p") } }
            let published = try #require(entry(subscription.subscribed))
            #expect(published["seq"] == .int(1))
            #expect(published["columns"] == .null)
            let unpublished = try #require(entry(subscription.unsubscribed))
            #expect(unpublished["seq"] == .int(0))
            #expect(unpublished["rows"] == .int(1))
        }
    }
}
