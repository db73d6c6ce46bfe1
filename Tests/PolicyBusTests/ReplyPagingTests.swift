import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// Replies are bounded (issue 12): `status` lists a page of its clients
    /// and counts the rest; `query`, `tables` and `status` page with
    /// `offset`/`limit`; any reply but a subscription's snapshot over
    /// `--max-reply-bytes` is refused with `reply-too-large`, and paging gets
    /// every item exactly once.
    @Suite(.serialized) struct ReplyPagingTests {
        /// `q` holds 0..<count; `p` is derived from it.
        static func policy(rows count: Int) -> String {
            (0..<count).map { "q(\($0))." }.joined(separator: "\n") + "\np(x) :- q(x), gt(x, 2)."
        }

        /// Every page of `op` until one says nothing more, from `limit`-sized pages.
        func pages(_ endpoint: String, _ op: String, _ fields: [String: JSON] = [:], limit: Int, list: String, more: String) async throws -> [JSON] {
            var items: [JSON] = []
            var offset = 0
            while true {
                var request = fields
                request["offset"] = .int(Int64(offset))
                request["limit"] = .int(Int64(limit))
                let reply = try await PolicyBusTests.request(endpoint, op, request)
                let page = reply[list]?.arrayValue ?? []
                #expect(page.count <= limit)
                items += page
                offset += limit
                let rest = reply[more]?.intValue ?? -1
                guard rest > 0 else {
                    #expect(rest == 0, "\(more): \(reply)")
                    return items
                }
            }
        }

        @Test func statusListsAPageOfClientsAndCountsTheRest() async throws {
            try await withProcesses { processes in
                let (_, endpoint) = try await processes.engine("e", policies: [("e", Self.policy(rows: 5))], peers: [], extra: ["--lease-ms", "60000"])
                let clients = (0..<250).map { String(format: "client-%03d", $0) }
                let subscribes = clients.enumerated().map { index, client in
                    [Array(#"{"op":"subscribe","tables":["e:p","e:t\#(index % 130)"],"client":"\#(client)"}"#.utf8)]
                }
                let replies = try await offPool { try exchange(endpoint, subscribes, timeout: 60) }
                #expect(replies.allSatisfy { $0?["ok"] == .bool(true) })

                let first = try await request(endpoint, "status")
                #expect(first["subscriptions"]?.arrayValue?.count == 100)
                #expect(first["subscriptions_more"]?.intValue == 150)
                // 131 published tables (e:p and e:t0...e:t129), 131 triggers.
                if case .object(let tables)? = first["tables"] { #expect(tables.count == 100) } else { Issue.record("no tables: \(first)") }
                #expect(first["tables_more"]?.intValue == 31)
                #expect(first["triggers"]?.arrayValue?.count == 100)
                #expect(first["triggers_more"]?.intValue == 31)

                let listed = try await pages(endpoint, "status", limit: 64, list: "subscriptions", more: "subscriptions_more")
                #expect(listed.compactMap { $0["client"]?.stringValue } == clients)
                let triggers = try await pages(endpoint, "status", limit: 50, list: "triggers", more: "triggers_more")
                #expect(triggers.compactMap(\.stringValue) == (["e:p"] + (0..<130).map { "e:t\($0)" }).sorted())

                let cli = try processes.start("status page", ["status", "--connect", endpoint, "--offset", "240", "--limit", "5"])
                #expect(try await cli.exit() == 0)
                let lines = cli.stdoutLines
                #expect(lines.filter { $0.hasPrefix("client ") }.map { $0.split(separator: " ")[1] } == ["client-240", "client-241", "client-242", "client-243", "client-244"])
                #expect(lines.contains { $0.hasPrefix("5 more clients") }, "\(lines)")
            }
        }

        @Test func aReplyOverTheLimitIsRefusedAndPagesGetEveryRowOnce() async throws {
            try await withProcesses { processes in
                let count = 3000
                let (node, endpoint) = try await processes.engine(
                    "e", policies: [("e", Self.policy(rows: count))], peers: [], extra: ["--max-reply-bytes", "8192"])
                for query in ["e:q", "e:q(x)"] {
                    let whole = try await offPool { try exchange(endpoint, [[Array(#"{"op":"query","query":"\#(query)","id":1}"#.utf8)]], timeout: 60) }
                    #expect(whole.first??["error"]?["code"]?.stringValue == "reply-too-large", "\(String(describing: whole))")
                    #expect(whole.first??["error"]?["message"]?.stringValue?.contains("\"offset\"") == true)
                }
                let rows = try await pages(endpoint, "query", ["query": .string("e:q")], limit: 500, list: "rows", more: "more")
                #expect(rows == (0..<count).map { JSON.array([.int(Int64($0))]) })
                // `policybus query` without --limit reads a table too large for one reply in pages.
                let cli = try processes.start("query all", ["query", "--connect", endpoint, "e:q", "--json"])
                #expect(try await cli.exit() == 0, "\(cli.stderrText)")
                let printed = try JSON.parse(Array((cli.stdoutLines.first ?? "").utf8))
                #expect(printed["rows"]?.arrayValue == rows)
                #expect(printed["more"] == .int(0))
                let text = try processes.start("query from 2990", ["query", "--connect", endpoint, "e:q(x)", "--offset", "2990"])
                #expect(try await text.exit() == 0, "\(text.stderrText)")
                #expect(text.stdoutLines == (2990..<count).map { "(\($0))" })
                let page = try await request(endpoint, "query", ["query": .string("e:p(x)"), "offset": .int(10), "limit": .int(3)])
                #expect(page["rows"] == .array([[13], [14], [15]].map { .array($0.map(JSON.int)) }))
                #expect(page["more"]?.intValue == Int64(count - 3 - 13))

                // A subscription's snapshot goes out whole, whatever its size.
                let subscribed = try await request(endpoint, "subscribe", ["tables": .array([.string("e:q")])])
                #expect(subscribed["tables"]?["e:q"]?["rows"]?.arrayValue?.count == count)

                // Many tables: `tables` too is refused whole and read in pages.
                let many = (0..<200).map { index in [Array(#"{"op":"subscribe","tables":["e:table\#(index)"],"client":"c\#(index)"}"#.utf8)] }
                _ = try await offPool { try exchange(endpoint, many, timeout: 60) }
                let tables = try await offPool { try exchange(endpoint, [[Array(#"{"op":"tables"}"#.utf8)]], timeout: 60) }
                #expect(tables.first??["error"]?["code"]?.stringValue == "reply-too-large")
                let listed = try await pages(endpoint, "tables", limit: 40, list: "tables", more: "more")
                let names = Set(listed.compactMap { $0["name"]?.stringValue })
                #expect(names.isSuperset(of: (0..<200).map { "e:table\($0)" } + ["e:p", "e:q"]))
                #expect(names.count == listed.count, "each table once")
                #expect(node.isRunning)
            }
        }
    }
}
