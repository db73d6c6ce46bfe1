import Foundation
import PolicyBus
import PolicyEngine
import Testing
import ZeroMQ
import TestSupport

extension ProcessSuites {
    /// Hostile input on a running `policybus serve`: every malformed control
    /// message gets an error reply with a code, and the engine's state is unchanged.
    @Suite(.serialized) struct ControlFuzzTests {
        static let policy = """
            p(x) :- q(x), gt(x, 2).
            q(1). q(3). q(5).
            """
        /// The fuzz run's scratch policy: fuzzed changes to it are let through, and
        /// afterwards its tables must equal a from-scratch evaluation of its rules
        /// and facts. `q`, `e` and `v` are its base tables (no rule defines them).
        static let scratch = """
            p(x) :- q(x), gt(x, 2).
            q(1). q(3). q(5).
            e(1, 2). e(2, 3). e(3, 1). e(3, 4). v(1). v(2). v(5).
            path(x, y) :- e(x, y)
            path(x, z) :- path(x, y), e(y, z)
            lonely(x) :- v(x), not path(x, _)
            """
        static let scratchBaseTables: Set<String> = ["q", "e", "v"]

        /// Valid changes to the scratch policy: seeds the fuzzer mutates.
        static let scratchChanges: [String] = [
            #"{"op":"facts","action":"insert","table":"fz:e","rows":[[4,5],[5,1]],"id":20}"#,
            #"{"op":"facts","action":"delete","table":"fz:e","rows":[[2,3]],"id":21}"#,
            #"{"op":"facts","action":"replace","table":"fz:v","rows":[[1],[3],[4]],"id":22}"#,
            #"{"op":"facts","action":"insert","table":"fz:q","rows":[[7]],"id":23}"#,
            #"{"op":"facts","action":"delete","table":"fz:q","rows":[[3]],"id":24}"#,
            #"{"op":"rules","action":"insert","policy":"fz","rule":"r(x) :- path(x, x)","id":25}"#,
            #"{"op":"rules","action":"insert","policy":"fz","rule":"s(x, y) :- e(x, y), not path(y, x)","id":26}"#,
            #"{"op":"rules","action":"delete","policy":"fz","rule":"path(x, y) :- e(x, y)","id":27}"#,
            #"{"op":"rules","action":"insert","policy":"fz","rule":"e(4, 4). v(3)","id":28}"#,
        ]

        /// Small limits, so that the limits themselves are exercised.
        static let limits = [
            "--max-subscriptions", "16", "--max-clients", "8", "--max-rows", "50", "--max-table-name-length", "64", "--lease-ms", "60000",
            "--max-client-id-length", "32", "--max-rule-bytes", "2048", "--max-query-bytes", "256", "--max-arity", "8",
        ]

        /// One field over its limit (as `limits` sets them) in every op, with
        /// its code: part of `malformed`, so the fuzz run mutates them too.
        static let oversized: [(frames: [[UInt8]], code: String)] = {
            let client = String(repeating: "c", count: 33)
            let name = "fz:" + String(repeating: "t", count: 62)  // 65 bytes
            let wide = (0..<9).map { "x\($0)" }.joined(separator: ", ")
            let requests: [(String, String)] = [
                (#"{"op":"hello","client":"\#(client)"}"#, "too-large"),
                (#"{"op":"renew","client":"\#(client)"}"#, "too-large"),
                (#"{"op":"status","client":"\#(client)"}"#, "too-large"),
                (#"{"op":"tables","client":"\#(client)"}"#, "too-large"),
                (#"{"op":"subscribe","tables":["fz:p"],"client":"\#(client)"}"#, "too-large"),
                (#"{"op":"subscribe","tables":["fz:p","\#(name)"],"client":"fuzz"}"#, "bad-table-name"),
                (#"{"op":"unsubscribe","tables":["fz:p"],"client":"\#(client)"}"#, "too-large"),
                (#"{"op":"unsubscribe","tables":["\#(name)"],"client":"fuzz"}"#, "bad-table-name"),
                (#"{"op":"query","query":"fz:p","client":"\#(client)"}"#, "too-large"),
                (#"{"op":"query","query":"\#(name)(x)"}"#, "bad-table-name"),
                (#"{"op":"query","query":"fz:p(\#(wide))"}"#, "too-large"),
                (#"{"op":"query","query":"fz:p\#(String(repeating: " ", count: 256))"}"#, "too-large"),
                (#"{"op":"explain","query":"fz:p(x)","client":"\#(client)"}"#, "too-large"),
                (#"{"op":"explain","query":"\#(name)"}"#, "bad-table-name"),
                (#"{"op":"explain","query":"fz:p(\#(wide))"}"#, "too-large"),
                (#"{"op":"explain","query":"fz:p(x)\#(String(repeating: " ", count: 256))"}"#, "too-large"),
                (#"{"op":"rules","action":"list","policy":"fz","client":"\#(client)"}"#, "too-large"),
                (#"{"op":"policy-create","name":"fz2","client":"\#(client)"}"#, "too-large"),
                (#"{"op":"policy-create","name":"\#(String(repeating: "f", count: 65))"}"#, "too-large"),
                (#"{"op":"policy-delete","name":"\#(String(repeating: "f", count: 65))"}"#, "too-large"),
                (#"{"op":"policy-list","client":"\#(client)"}"#, "too-large"),
                (#"{"op":"snapshot-chunk","snapshot":"s","offset":0,"client":"\#(client)"}"#, "too-large"),
                (#"{"op":"snapshot-chunk","snapshot":"\#(String(repeating: "s", count: 65))","offset":0}"#, "bad-request"),
                (#"{"op":"simulate","changes":[],"tables":["\#(name)"]}"#, "bad-table-name"),
                (#"{"op":"simulate","changes":[{"op":"facts","action":"insert","table":"fz:q","rows":[[0,1,2,3,4,5,6,7,8]]}],"tables":["fz:p"]}"#, "too-large"),
                (#"{"op":"simulate","changes":[{"op":"rules","action":"insert","policy":"fz","rule":"r(x) :- q(x)\#(String(repeating: " ", count: 2048))"}],"tables":["fz:p"]}"#, "too-large"),
                (#"{"op":"simulate","changes":[{"op":"facts","action":"insert","table":"fz:q","rows":[\#((0..<51).map { "[\($0)]" }.joined(separator: ","))]}],"tables":["fz:p"]}"#, "too-many-rows"),
                (#"{"op":"rules","action":"list","policy":"\#(String(repeating: "f", count: 65))"}"#, "too-large"),
                (#"{"op":"rules","action":"insert","policy":"fz","rule":"r(x) :- q(x)\#(String(repeating: " ", count: 2048))"}"#, "too-large"),
                (#"{"op":"rules","action":"insert","policy":"fz","rule":"r(x) :- \#(name)(x)"}"#, "bad-table-name"),
                (#"{"op":"rules","action":"delete","policy":"fz","rule":"p(x) :- q(x), gt(x, 2)\#(String(repeating: " ", count: 2048))"}"#, "too-large"),
                (#"{"op":"facts","action":"insert","table":"fz:q","rows":[[7]],"client":"\#(client)"}"#, "too-large"),
                (#"{"op":"facts","action":"insert","table":"\#(name)","rows":[[7]]}"#, "bad-table-name"),
                (#"{"op":"facts","action":"replace","table":"fz:q","rows":[[7],[1,2,3,4,5,6,7,8,9]]}"#, "too-large"),
            ]
            return requests.map { ([Array($0.0.utf8)], $0.1) }
        }()

        /// Requests that must fail, with the code each must get. Every one that
        /// names `facts` or `rules insert/delete` is invalid by construction.
        static let malformed: [(frames: [[UInt8]], code: String)] = [
            ([Array("a".utf8), Array("b".utf8)], "bad-frames"),
            ([[], Array("{}".utf8), Array("{}".utf8)], "bad-frames"),
            ([Array("not json".utf8)], "bad-json"),
            ([[0xFF, 0xFE, 0x00]], "bad-json"),
            ([Array("{\"op\":\"query\",\"query\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)], "bad-json"),
            ([Array(String(repeating: "[", count: 200).utf8)], "bad-json"),
            ([[]], "bad-json"),
            ([Array("[1,2]".utf8)], "bad-request"),
            ([Array("{\"op\":5}".utf8)], "bad-request"),
            ([Array("{\"op\":\"query\",\"client\":7}".utf8)], "bad-request"),
            ([Array("{\"op\":\"frobnicate\"}".utf8)], "unknown-op"),
            ([Array("{\"op\":\"snapshot-chunk\",\"snapshot\":\"nope\",\"offset\":0}".utf8)], "snapshot-gone"),
            ([Array("{\"op\":\"snapshot-chunk\",\"snapshot\":\"nope\",\"offset\":-1}".utf8)], "bad-request"),
            ([Array("{\"op\":\"subscribe\",\"tables\":\"fz:p\"}".utf8)], "bad-request"),
            ([Array("{\"op\":\"subscribe\",\"tables\":[5]}".utf8)], "bad-request"),
            ([Array("{\"op\":\"subscribe\",\"tables\":[\"nocolon\"]}".utf8)], "bad-table-name"),
            ([Array("{\"op\":\"subscribe\",\"tables\":[\"fz:\(String(repeating: "x", count: 100))\"]}".utf8)], "bad-table-name"),
            ([Array("{\"op\":\"subscribe\",\"tables\":[\"nosuchpolicy:t\"]}".utf8)], "unknown-policy"),
            ([Array("{\"op\":\"facts\",\"action\":\"insert\",\"table\":\"fz:q\",\"rows\":[[1,2]]}".utf8)], "arity-mismatch"),
            ([Array("{\"op\":\"facts\",\"action\":\"insert\",\"table\":\"fz:q\",\"rows\":\"x\"}".utf8)], "bad-request"),
            ([Array("{\"op\":\"facts\",\"action\":\"insert\",\"table\":\"fz:q\",\"rows\":[[1e999]]}".utf8)], "bad-json"),
            ([Array("{\"op\":\"facts\",\"action\":\"insert\",\"table\":\"fz:q\",\"rows\":[[9223372036854775808]]}".utf8)], "bad-json"),
            ([Array("{\"op\":\"facts\",\"action\":\"insert\",\"table\":7,\"rows\":[[7]]}".utf8)], "bad-request"),
            ([Array("{\"op\":\"facts\",\"action\":\"upsert\",\"table\":\"fz:q\",\"rows\":[[7]]}".utf8)], "bad-request"),
            ([Array("{\"op\":\"facts\",\"action\":\"insert\",\"table\":\"fz:q\",\"rows\":[\(Array(repeating: "[9]", count: 51).joined(separator: ","))]}".utf8)], "too-many-rows"),
            ([Array("{\"op\":\"rules\",\"action\":\"insert\",\"policy\":\"fz\",\"rule\":\"r(x) :- \"}".utf8)], "syntax-error"),
            ([Array("{\"op\":\"rules\",\"action\":\"insert\",\"policy\":\"fz\",\"rule\":\"r(x, y) :- q(x)\"}".utf8)], "unsafe-variable"),
            ([Array("{\"op\":\"rules\",\"action\":\"insert\",\"policy\":\"nope\",\"rule\":\"r(x) :- q(x)\"}".utf8)], "unknown-policy"),
            ([Array("{\"op\":\"rules\",\"action\":\"delete\",\"policy\":\"fz\",\"rule\":5}".utf8)], "bad-request"),
            ([Array("{\"op\":\"rules\",\"action\":\"frob\",\"policy\":\"fz\"}".utf8)], "bad-request"),
            ([Array("{\"op\":\"query\",\"query\":\"fz:p(\"}".utf8)], "syntax-error"),
            ([Array("{\"op\":\"query\"}".utf8)], "bad-request"),
        ] + oversized

        /// Requests that change nothing: the fuzzer's seeds besides `malformed`.
        static let harmless: [String] = [
            #"{"op":"hello","id":1}"#,
            #"{"op":"status","id":2,"client":"fuzz"}"#,
            #"{"op":"tables","id":3}"#,
            #"{"op":"query","query":"fz:p(x)","id":4}"#,
            #"{"op":"query","query":"fz:q","id":5}"#,
            #"{"op":"subscribe","tables":["fz:p"],"client":"fuzz","id":6}"#,
            #"{"op":"subscribe","tables":["fz:q","fz:other"],"client":"fuzz2","id":7}"#,
            #"{"op":"unsubscribe","tables":["fz:p"],"client":"fuzz","id":8}"#,
            #"{"op":"renew","client":"fuzz","id":9}"#,
            #"{"op":"rules","action":"list","policy":"fz","id":10}"#,
        ]

        @Test func malformedRequestsGetCodedErrorsAndChangeNothing() async throws {
            try await withProcesses { processes in
                let (_, endpoint) = try await processes.engine("fz", policies: [("fz", Self.policy)], peers: [], extra: Self.limits)
                let before = try await state(endpoint)
                let replies = try await offPool { try exchange(endpoint, Self.malformed.map(\.frames)) }
                for (reply, (frames, code)) in zip(replies, Self.malformed) {
                    #expect(reply?["ok"] == .bool(false), "\(printable(frames))")
                    #expect(reply?["error"]?["code"]?.stringValue == code, "\(printable(frames)): \(String(describing: reply))")
                    let message = reply?["error"]?["message"]?.stringValue ?? ""
                    #expect(message.isEmpty == false)
                }
                #expect(try await state(endpoint) == before)
            }
        }

        @Test func aSubscribeFloodFromOneClientIsCapped() async throws {
            try await withProcesses { processes in
                let (_, endpoint) = try await processes.engine("fz", policies: [("fz", Self.policy)], peers: [], extra: Self.limits)
                let requests: [[[UInt8]]] = (0..<40).map { index in
                    [Array(#"{"op":"subscribe","tables":["fz:t\#(index)"],"client":"flood","id":\#(index)}"#.utf8)]
                }
                let replies = try await offPool { try exchange(endpoint, requests) }
                let accepted = replies.filter { $0?["ok"] == .bool(true) }.count
                let refused = replies.filter { $0?["error"]?["code"]?.stringValue == "too-many-subscriptions" }.count
                #expect(accepted == 16)
                #expect(refused == 24)
                let oneRequest = (0..<17).map { "\"fz:u\($0)\"" }.joined(separator: ",")
                let big = try await offPool { try exchange(endpoint, [[Array(#"{"op":"subscribe","tables":[\#(oneRequest)],"client":"other"}"#.utf8)]]) }
                #expect(big.first??["error"]?["code"]?.stringValue == "too-many-subscriptions")
                let status = try await request(endpoint, "status")
                let flood = status["subscriptions"]?.arrayValue?.first { $0["client"]?.stringValue == "flood" }
                #expect(flood?["tables"]?.arrayValue?.count == 16)
                #expect(status["subscriptions"]?.arrayValue?.contains { $0["client"]?.stringValue == "other" } == false)
                // Many clients: at most --max-clients (8) hold subscriptions; "flood" is one of them.
                let many: [[[UInt8]]] = (0..<20).map { index in
                    [Array(#"{"op":"subscribe","tables":["fz:p"],"client":"c\#(index)"}"#.utf8)]
                }
                let manyReplies = try await offPool { try exchange(endpoint, many) }
                #expect(manyReplies.filter { $0?["ok"] == .bool(true) }.count == 7)
                #expect(manyReplies.filter { $0?["error"]?["code"]?.stringValue == "too-many-subscriptions" }.count == 13)
                #expect(try await request(endpoint, "status")["subscriptions"]?.arrayValue?.count == 8)
            }
        }

        @Test func anOversizedFrameDropsOnlyThatConnection() async throws {
            try await withProcesses { processes in
                let (engine, endpoint) = try await processes.engine(
                    "fz", policies: [("fz", Self.policy)], peers: [], extra: Self.limits + ["--max-message-size", "1024"])
                let before = try await state(endpoint)
                let padding = String(repeating: "x", count: 2000)
                let big = Array(#"{"op":"facts","action":"insert","table":"fz:q","rows":[["\#(padding)"]]}"#.utf8)
                let replies = try await offPool { try exchange(endpoint, [[big]], timeout: 1) }
                #expect(replies == [nil], "libzmq drops a frame above ZMQ_MAXMSGSIZE with its connection; no reply is possible")
                #expect(engine.isRunning)
                #expect(try await state(endpoint) == before)
            }
        }

        /// At least 100k random and mutated requests at an engine (50k at a data
        /// source), pipelined over tcp loopback; `POLICYBUS_FUZZ_SEED` replays a
        /// run, `POLICYBUS_FUZZ_COUNT` changes the engine's count.
        ///
        /// At an engine, changes to the scratch policy `fz` are let through; the
        /// policy `keep` (the same program as `policy`) must end unchanged, and
        /// `fz`'s tables must equal a fresh evaluation of its final rules and facts.
        @Test(arguments: ["engine", "datasource"])
        func fuzzedRequestsLeaveTheNodeUpAndItsTablesUnchanged(kind: String) async throws {
            let environment = ProcessInfo.processInfo.environment
            let seed = environment["POLICYBUS_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
            let full = environment["POLICYBUS_FUZZ_COUNT"].flatMap(Int.init) ?? 100_000
            let count = kind == "engine" ? full : full / 2
            print("ControlFuzzTests \(kind) seed: \(seed) (POLICYBUS_FUZZ_SEED=\(seed) replays), count: \(count)")
            try await withProcesses { processes in
                let (node, endpoint) = kind == "engine"
                    ? try await processes.engine("fz", policies: [("keep", Self.policy), ("fz", Self.scratch)], peers: [], extra: Self.limits)
                    : try await processes.dataSource("fz", extra: Self.limits + ["--facts", try temporaryFile(#"{"q": [[1], [3], [5]]}"#, suffix: ".json")])
                let before = try await state(endpoint, kind: kind, policy: "keep")
                let report = try await offPool {
                    var generator = ControlFuzzer(seed: seed, scratch: kind == "engine")
                    var report = FuzzReport()
                    var sent = 0
                    let client = try FuzzClient(endpoint)
                    defer { client.close() }
                    while sent < count {
                        let batch = (0..<min(500, count - sent)).map { _ in generator.next() }
                        let replies = try client.exchange(batch)
                        for (request, reply) in zip(batch, replies) { report.note(request: request, reply: reply) }
                        sent += batch.count
                    }
                    return report
                }
                print("ControlFuzzTests \(kind): \(report.summary)")
                #expect(report.sent == count)
                #expect(report.missing == 0, "requests without a reply: \(report.firstMissing ?? "")")
                #expect(report.uncoded == 0, "error replies without a code: \(report.firstUncoded ?? "")")
                #expect(report.errors > count / 2, "most fuzzed requests are malformed")
                #expect(node.isRunning)
                let status = try await request(endpoint, "status")
                #expect(status["name"]?.stringValue == "fz")
                #expect(try await state(endpoint, kind: kind, policy: "keep") == before, "seed \(seed)")
                // A shorter run (POLICYBUS_FUZZ_COUNT) may by chance miss a kind of refusal.
                if kind == "engine", count >= 50_000 {
                    for code in ["syntax-error", "arity-mismatch", "unsafe-variable", "unstratified-negation"] {
                        #expect(report.codes[code, default: 0] > 0, "no rule was refused with \(code)")
                    }
                    for change in ["rules insert", "rules delete", "facts insert", "facts delete", "facts replace"] {
                        #expect(report.accepted[change, default: 0] > 0, "no \(change) was accepted")
                    }
                }
                if kind == "engine" { try await expectScratchMatchesFreshEvaluation(endpoint, seed: seed) }
            }
        }

        /// The scratch policy's tables at the engine equal a from-scratch
        /// evaluation (`OfflineEvaluation`, as `policybus eval` does it) of its
        /// rules (`rules list`) and its base tables' rows (`query`). The fuzzer
        /// never lets a rule define a base table, nor a fact land in a derived one,
        /// so the base tables' rows are exactly the facts.
        func expectScratchMatchesFreshEvaluation(_ endpoint: String, seed: UInt64) async throws {
            let rules = try await request(endpoint, "rules", ["action": .string("list"), "policy": .string("fz")])["rules"]?.arrayValue ?? []
            let text = rules.compactMap(\.stringValue).joined(separator: "\n")
            var facts: [(table: String, rows: [[Value]])] = []
            for name in Self.scratchBaseTables.sorted() {
                let rows = try await queryRows(endpoint, "fz:\(name)")
                facts.append(("fz:\(name)", try rows.map { row in try row.map(Self.value) }))
            }
            let fresh = try OfflineEvaluation.evaluate(policies: [.init(name: "fz", text: text)], facts: facts, tables: [])
            var expected: [String: Set<[JSON]>] = [:]
            for (table, rows) in fresh where table.service == "fz" {
                expected[table.description] = Set((JSON(rows: rows).arrayValue ?? []).compactMap(\.arrayValue))
            }
            // A table the engine lists with rows must be one the evaluation has (fuzzed
            // subscribes also open empty tables, with names a query cannot parse).
            let listed = try await request(endpoint, "tables")["tables"]?.arrayValue ?? []
            let withRows = listed.filter { ($0["rows"]?.intValue ?? 0) > 0 }.compactMap { $0["name"]?.stringValue }
            let names = Set(withRows.filter { $0.hasPrefix("fz:") }).union(expected.keys)
            print("ControlFuzzTests scratch: \(rules.count) rules, \(names.count) tables, rows: \(expected.values.map(\.count).reduce(0, +))")
            #expect(!names.isEmpty, "there is something to compare")
            for name in names.sorted() {
                let actual = try await queryRows(endpoint, name)
                #expect(actual == expected[name, default: []], "\(name) differs from a fresh evaluation (seed \(seed))\nrules:\n\(text)")
            }
        }

        static func value(_ json: JSON) throws -> Value {
            switch json {
            case .int(let number): return .int(number)
            case .float(let number): return .float(number)
            case .string(let text): return .string(text)
            default: throw TimeoutError(what: "a table value, not \(json)")
            }
        }

        // MARK: - Helpers

        /// What the node holds: the tables' rows (and an engine's rules).
        func state(_ endpoint: String, kind: String = "engine", policy: String = "fz") async throws -> [String: JSON] {
            if kind == "datasource" {
                // A subscribe may open new tables at a data source, empty: a table with rows is what counts.
                let tables = try await request(endpoint, "tables")["tables"]?.arrayValue ?? []
                let nonEmpty: [String] = tables.filter { ($0["rows"]?.intValue ?? 0) > 0 }.compactMap { $0["name"]?.stringValue }
                return [
                    "q": .array(try await queryRows(endpoint, "fz:q").sorted { $0.description < $1.description }.map(JSON.array)),
                    "tables with rows": .array(nonEmpty.sorted().map(JSON.string)),
                ]
            }
            return [
                "p": .array(try await queryRows(endpoint, "\(policy):p").sorted { $0.description < $1.description }.map(JSON.array)),
                "q": .array(try await queryRows(endpoint, "\(policy):q").sorted { $0.description < $1.description }.map(JSON.array)),
                "rules": try await request(endpoint, "rules", ["action": .string("list"), "policy": .string(policy)])["rules"] ?? .null,
            ]
        }

        func printable(_ frames: [[UInt8]]) -> String {
            frames.map { String(decoding: $0.prefix(120), as: UTF8.self) }.joined(separator: " | ")
        }
    }
}

/// Sends `requests` (each a multipart message) on one DEALER and returns the
/// replies in order (nil for a missing one).
func exchange(_ endpoint: String, _ requests: [[[UInt8]]], timeout: Double = 10) throws -> [JSON?] {
    let client = try FuzzClient(endpoint)
    defer { client.close() }
    return try client.exchange(requests, timeout: timeout)
}

/// A DEALER that pipelines requests. Replies come back in order, because a
/// node serves one peer's requests in the order they arrive.
final class FuzzClient {
    let context: ZeroMQ.Context
    let socket: Socket

    init(_ endpoint: String) throws {
        context = try ZeroMQ.Context()
        socket = try Socket(context, .dealer)
        try socket.set(.linger, 0)
        try socket.connect(endpoint)
    }

    func close() {
        socket.close()
    }

    /// Sends every request, then reads one reply per request (waiting at
    /// most `timeout` seconds in all). A reply is its last frame, parsed as JSON.
    func exchange(_ requests: [[[UInt8]]], timeout: Double = 10) throws -> [JSON?] {
        for request in requests { try socket.send(request) }
        var replies: [JSON?] = []
        let deadline = Date().addingTimeInterval(timeout)
        var poller = Poller()
        poller.add(socket)
        while replies.count < requests.count, Date() < deadline {
            try poller.poll(timeout: 100)
            while replies.count < requests.count, let frames = try socket.tryReceive() {
                replies.append(frames.last.flatMap { try? JSON.parse($0) } ?? .null)
            }
        }
        return replies + Array(repeating: nil, count: requests.count - replies.count)
    }
}

/// Tallies a fuzz run.
struct FuzzReport: Sendable {
    var sent = 0
    var ok = 0
    var errors = 0
    var missing = 0
    var uncoded = 0
    var codes: [String: Int] = [:]
    /// Accepted changes by "op action" (`rules insert`, `facts replace`...).
    var accepted: [String: Int] = [:]
    var firstMissing: String?
    var firstUncoded: String?

    mutating func note(request: [[UInt8]], reply: JSON?) {
        sent += 1
        let text = request.map { String(decoding: $0.prefix(200), as: UTF8.self) }.joined(separator: " | ")
        guard let reply, reply != .null else {
            missing += 1
            firstMissing = firstMissing ?? text
            return
        }
        switch reply["ok"] {
        case .bool(true)?:
            ok += 1
            if let request = ControlFuzzer.body(request).flatMap({ try? ControlRequest(frame: $0) }),
                request.op == "facts" || request.op == "rules", let action = request.body["action"]?.stringValue, action != "list"
            {
                accepted["\(request.op) \(action)", default: 0] += 1
            }
        case .bool(false)?:
            errors += 1
            if let code = reply["error"]?["code"]?.stringValue, !code.isEmpty {
                codes[code, default: 0] += 1
            } else {
                uncoded += 1
                firstUncoded = firstUncoded ?? text
            }
        default:
            uncoded += 1
            firstUncoded = firstUncoded ?? text
        }
    }

    var summary: String {
        "sent \(sent), ok \(ok), errors \(errors) " + codes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            + "; accepted changes: " + accepted.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}

/// Random and mutated control messages from a seed.
///
/// A generated message that the node could accept as a change (`facts`, or
/// `rules` other than `list`) is replaced by a known-invalid one, unless
/// `scratch` is set and the change stays inside the scratch policy `fz`: facts
/// of its base tables, or rules that define none of them. So the other tables
/// must end as they began, and `fz`'s base tables hold exactly its facts. The
/// check uses the node's own JSON and policy parsers, so it sees exactly what
/// the node will see.
struct ControlFuzzer {
    var random: SeededRandom
    let seeds: [[[UInt8]]]
    let scratch: Bool
    /// The latest rule texts sent for insertion, which deletions pick from.
    var inserted: [String] = []
    static let tokens: [String] = [
        "{", "}", "[", "]", "\"", ":", ",", "null", "true", "false", "-0", "1e999", "-9223372036854775809", "0.5",
        "\"op\"", "\"tables\"", "\"subscribe\"", "\"query\"", "\"client\"", "\"id\"", "\\u0000", "\\ud800", "\\", "fz:p", "fz:",
        ":::", " ", "\u{00e9}", "\u{1F600}", String(repeating: "a", count: 300),
    ]
    /// Rule texts the fuzzer starts from: accepted ones, and one per kind of refusal.
    static let rules: [String] = [
        "r(x) :- path(x, x)",
        "s(x, y) :- e(x, y), not path(y, x)",
        "t(x) :- v(x), not lonely(x)",
        "reach(y) :- v(x), path(x, y)",
        "e(4, 4). v(3)",
        "path(x, y) :- e(x, y)",
        "r(x) :- path(x x)",  // syntax-error
        "r(x) :- e(x)",  // arity-mismatch
        "u(x, y) :- v(x)",  // unsafe-variable
        "w(x) :- v(x), not w(x)",  // unstratified-negation
    ]
    static let ruleTokens: [String] = [
        "not ", ":-", "x", "y", "z", "_", ", ", "(", ")", ".", "\n", "path(x, y)", "e(y, z)", "v(x)", "not w(x)", "r(x)", "s(x)", "1", "\"a\"",
    ]
    static let heads = ["r", "s", "t", "w", "path", "lonely", "reach"]
    static let atoms = ["e(A, B)", "v(A)", "path(A, B)", "r(A)", "s(A)", "t(A)", "w(A)", "lonely(A)", "reach(A)", "q(A)"]

    init(seed: UInt64, scratch: Bool = false) {
        random = SeededRandom(seed: seed)
        self.scratch = scratch
        let tests = ProcessSuites.ControlFuzzTests.self
        seeds = tests.malformed.map(\.frames) + (tests.harmless + (scratch ? tests.scratchChanges : [])).map { [Array($0.utf8)] }
    }

    mutating func next() -> [[UInt8]] {
        var frames = seeds.randomElement(using: &random)!
        switch Int.random(in: 0..<20, using: &random) {
        case 0:
            frames = [randomBytes(Int.random(in: 0..<64, using: &random))]
        case 1:
            frames = (0..<Int.random(in: 1...5, using: &random)).map { _ in randomBytes(Int.random(in: 0..<16, using: &random)) }
        case 2:
            frames.insert([], at: 0)
        case 3:
            frames = [ruleRequest()]
        default:
            let index = Int.random(in: 0..<frames.count, using: &random)
            for _ in 0..<Int.random(in: 1...4, using: &random) { frames[index] = mutate(frames[index]) }
        }
        return isSafe(frames) ? frames : ProcessSuites.ControlFuzzTests.malformed.randomElement(using: &random)!.frames
    }

    /// A well-formed `rules` request on `fz` whose rule text is generated or
    /// mutated, so that the text (not the JSON) is what the node refuses or accepts.
    mutating func ruleRequest() -> [UInt8] {
        let action: String
        var text: String
        if Int.random(in: 0..<5, using: &random) < 2, let sent = inserted.randomElement(using: &random) {
            // Deleting what was inserted keeps the rule count (and the run's time) bounded.
            (action, text) = ("delete", sent)
        } else {
            action = Int.random(in: 0..<6, using: &random) == 0 ? "delete" : "insert"
            text = Bool.random(using: &random) ? Self.rules.randomElement(using: &random)! : generatedRule()
            for _ in 0..<Int.random(in: 0...2, using: &random) { text = mutateRule(text) }
            if action == "insert" {
                inserted.append(text)
                if inserted.count > 64 { inserted.removeFirst() }
            }
        }
        let request: JSON = .object(["op": .string("rules"), "action": .string(action), "policy": .string("fz"), "rule": .string(text)])
        return Array(request.text.utf8)
    }

    /// A random rule over the scratch policy's tables: safe or not, stratified or not.
    mutating func generatedRule() -> String {
        let variables = ["x", "y", "z"]
        let arity = Int.random(in: 1...2, using: &random)
        let head = Self.heads.randomElement(using: &random)! + "(" + (0..<arity).map { variables[$0] }.joined(separator: ", ") + ")"
        let body = (0..<Int.random(in: 1...3, using: &random)).map { _ in
            var atom = Self.atoms.randomElement(using: &random)!
            atom = atom.replacingOccurrences(of: "A", with: variables.randomElement(using: &random)!)
            atom = atom.replacingOccurrences(of: "B", with: variables.randomElement(using: &random)!)
            return (Int.random(in: 0..<4, using: &random) == 0 ? "not " : "") + atom
        }
        return head + " :- " + body.joined(separator: ", ")
    }

    mutating func mutateRule(_ text: String) -> String {
        var characters = Array(text)
        let position = Int.random(in: 0...characters.count, using: &random)
        if Bool.random(using: &random) {
            characters.insert(contentsOf: Self.ruleTokens.randomElement(using: &random)!, at: position)
        } else if position < characters.count {
            characters.removeSubrange(position..<min(characters.count, position + Int.random(in: 1...4, using: &random)))
        }
        return String(characters)
    }

    /// The frame the node reads the request from, if the frame count is right.
    static func body(_ frames: [[UInt8]]) -> [UInt8]? {
        frames.first?.isEmpty == true && frames.count == 2 ? frames[1] : frames.count == 1 ? frames[0] : nil
    }

    /// Whether the node cannot change anything outside the scratch policy's
    /// allowed changes when it serves `frames`.
    func isSafe(_ frames: [[UInt8]]) -> Bool {
        guard let body = Self.body(frames), ProcessSuites.ControlFuzzTests.malformed.allSatisfy({ $0.frames != frames }),
            let request = try? ControlRequest(frame: body)
        else { return true }
        switch request.op {
        case "facts": return scratch && isScratchFacts(request)
        case "rules": return request.body["action"]?.stringValue == "list" || (scratch && isScratchRules(request))
        // A mutated name could delete `keep` or `fz`; the seeds' oversized names are refused.
        case "policy-create", "policy-delete": return false
        default: return true
        }
    }

    /// Facts for a base table of `fz`, with small values (so that recursive
    /// tables stay small), or a request the node refuses before any change.
    /// The node's limits are stricter than the defaults, so what fails here fails there.
    func isScratchFacts(_ request: ControlRequest) -> Bool {
        guard let name = request.body["table"]?.stringValue, let table = try? ControlRequest.tableID(name, limits: BusLimits()),
            let rows = try? request.rows("rows", limits: BusLimits())
        else { return true }
        return table.service == "fz" && ProcessSuites.ControlFuzzTests.scratchBaseTables.contains(table.name) && rows.allSatisfy { $0.allSatisfy(Self.isSmall) }
    }

    /// Rules of `fz` that define no base table, whose facts are small and go to
    /// base tables, and with no arithmetic (a recursive rule that computes new
    /// values would never finish); or a request the node refuses before any change.
    func isScratchRules(_ request: ControlRequest) -> Bool {
        guard let policy = request.body["policy"]?.stringValue, let text = request.body["rule"]?.stringValue else { return true }
        guard policy == "fz" else { return false }
        guard let parsed = try? PolicyParser.parse(text, policy: "fz") else { return true }  // the node's parser refuses it too
        let base = ProcessSuites.ControlFuzzTests.scratchBaseTables
        let arithmetic = text.replacingOccurrences(of: ":-", with: "").contains { "+-*/".contains($0) }
        return !arithmetic
            && parsed.rules.allSatisfy { ($0.head.service ?? "fz") == "fz" && !base.contains($0.head.name) }
            && parsed.facts.allSatisfy { $0.table.service == "fz" && base.contains($0.table.name) && $0.values.allSatisfy(Self.isSmall) }
    }

    static func isSmall(_ value: Value) -> Bool {
        switch value {
        case .int(let number): (0...9).contains(number)
        case .string(let text): text == "a"
        case .float: false
        }
    }

    mutating func randomBytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<6, using: &random) {
        case 0 where !bytes.isEmpty:
            bytes[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
        case 1:
            bytes.insert(UInt8.random(in: 0...255, using: &random), at: position)
        case 2 where !bytes.isEmpty:
            let end = min(bytes.count, position + Int.random(in: 1...8, using: &random))
            bytes.removeSubrange(position..<end)
        case 3:
            bytes.insert(contentsOf: Array(Self.tokens.randomElement(using: &random)!.utf8), at: position)
        case 4 where !bytes.isEmpty:
            let end = min(bytes.count, position + Int.random(in: 1...16, using: &random))
            bytes.insert(contentsOf: bytes[position..<end], at: position)
        default:
            bytes = Array(bytes.prefix(position))
        }
        return bytes
    }
}
