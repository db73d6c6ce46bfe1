import Foundation
import PolicyBus
import Testing
import ZeroMQ

extension ProcessSuites {
    /// Hostile input on a running `policybus serve`: every malformed control
    /// message gets an error reply with a code, and the engine's state is unchanged.
    @Suite(.serialized) struct ControlFuzzTests {
        static let policy = """
            p(x) :- q(x), gt(x, 2).
            q(1). q(3). q(5).
            """
        /// Small limits, so that the limits themselves are exercised.
        static let limits = ["--max-subscriptions", "16", "--max-clients", "8", "--max-rows", "50", "--max-table-name-length", "64", "--lease-ms", "60000"]

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
            ([Array("{\"op\":\"subscribe\",\"tables\":\"fz:p\"}".utf8)], "bad-request"),
            ([Array("{\"op\":\"subscribe\",\"tables\":[5]}".utf8)], "bad-request"),
            ([Array("{\"op\":\"subscribe\",\"tables\":[\"nocolon\"]}".utf8)], "bad-table-name"),
            ([Array("{\"op\":\"subscribe\",\"tables\":[\"fz:\(String(repeating: "x", count: 100))\"]}".utf8)], "bad-table-name"),
            ([Array("{\"op\":\"subscribe\",\"tables\":[\"nosuchpolicy:t\"]}".utf8)], "unknown-policy"),
            ([Array("{\"op\":\"facts\",\"action\":\"insert\",\"table\":\"fz:q\",\"rows\":[[1,2]]}".utf8)], "arity-mismatch"),
            ([Array("{\"op\":\"facts\",\"action\":\"insert\",\"table\":\"fz:q\",\"rows\":\"x\"}".utf8)], "bad-request"),
            ([Array("{\"op\":\"facts\",\"action\":\"insert\",\"table\":\"fz:q\",\"rows\":[[1e999]]}".utf8)], "bad-json"),
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
        ]

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
        @Test(arguments: ["engine", "datasource"])
        func fuzzedRequestsLeaveTheNodeUpAndItsTablesUnchanged(kind: String) async throws {
            let environment = ProcessInfo.processInfo.environment
            let seed = environment["POLICYBUS_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
            let full = environment["POLICYBUS_FUZZ_COUNT"].flatMap(Int.init) ?? 100_000
            let count = kind == "engine" ? full : full / 2
            print("ControlFuzzTests \(kind) seed: \(seed) (POLICYBUS_FUZZ_SEED=\(seed) replays), count: \(count)")
            try await withProcesses { processes in
                let (node, endpoint) = kind == "engine"
                    ? try await processes.engine("fz", policies: [("fz", Self.policy)], peers: [], extra: Self.limits)
                    : try await processes.dataSource("fz", extra: Self.limits + ["--facts", try temporaryFile(#"{"q": [[1], [3], [5]]}"#, suffix: ".json")])
                let before = try await state(endpoint, kind: kind)
                let report = try await offPool {
                    var generator = ControlFuzzer(seed: seed)
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
                #expect(try await state(endpoint, kind: kind) == before, "seed \(seed)")
            }
        }

        // MARK: - Helpers

        /// What the node holds: the tables' rows (and an engine's rules).
        func state(_ endpoint: String, kind: String = "engine") async throws -> [String: JSON] {
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
                "p": .array(try await queryRows(endpoint, "fz:p").sorted { $0.description < $1.description }.map(JSON.array)),
                "q": .array(try await queryRows(endpoint, "fz:q").sorted { $0.description < $1.description }.map(JSON.array)),
                "rules": try await request(endpoint, "rules", ["action": .string("list"), "policy": .string("fz")])["rules"] ?? .null,
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
    }
}

/// Random and mutated control messages from a seed.
///
/// A generated message that the node could accept as a change (`facts`, or
/// `rules` other than `list`) is replaced by a known-invalid one, so that the
/// engine's tables must end as they began. The check uses the node's own
/// JSON parser, so it sees exactly what the node will see.
struct ControlFuzzer {
    var random: SplitMix
    let seeds: [[[UInt8]]]
    static let tokens: [String] = [
        "{", "}", "[", "]", "\"", ":", ",", "null", "true", "false", "-0", "1e999", "-9223372036854775809", "0.5",
        "\"op\"", "\"tables\"", "\"subscribe\"", "\"query\"", "\"client\"", "\"id\"", "\\u0000", "\\ud800", "\\", "fz:p", "fz:",
        ":::", " ", "\u{00e9}", "\u{1F600}", String(repeating: "a", count: 300),
    ]

    init(seed: UInt64) {
        random = SplitMix(seed: seed)
        seeds = ProcessSuites.ControlFuzzTests.malformed.map(\.frames) + ProcessSuites.ControlFuzzTests.harmless.map { [Array($0.utf8)] }
    }

    mutating func next() -> [[UInt8]] {
        var frames = seeds.randomElement(using: &random)!
        switch Int.random(in: 0..<10, using: &random) {
        case 0:
            frames = [randomBytes(Int.random(in: 0..<64, using: &random))]
        case 1:
            frames = (0..<Int.random(in: 1...5, using: &random)).map { _ in randomBytes(Int.random(in: 0..<16, using: &random)) }
        case 2:
            frames.insert([], at: 0)
        default:
            let index = Int.random(in: 0..<frames.count, using: &random)
            for _ in 0..<Int.random(in: 1...4, using: &random) { frames[index] = mutate(frames[index]) }
        }
        return couldChangeState(frames) ? ProcessSuites.ControlFuzzTests.malformed.randomElement(using: &random)!.frames : frames
    }

    func couldChangeState(_ frames: [[UInt8]]) -> Bool {
        let body = frames.first?.isEmpty == true && frames.count == 2 ? frames[1] : frames.count == 1 ? frames[0] : nil
        guard let body, ProcessSuites.ControlFuzzTests.malformed.allSatisfy({ $0.frames != frames }),
            let request = try? ControlRequest(frame: body)
        else { return false }
        switch request.op {
        case "facts": return true
        case "rules": return request.body["action"]?.stringValue != "list"
        default: return false
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
