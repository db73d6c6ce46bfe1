import Foundation
import PolicyBus
import PolicyEngine
import Testing
import TestSupport

/// Integers on every bus input path keep their exact int64 value, and an
/// integer outside int64 is `bad-json` on each (PROTOCOL.md §2).
@Suite struct WireIntegerTests {
    static let table = TableID("d:t")!

    static func randomRows(_ random: inout SeededRandom, count: Int) -> [Row] {
        (0..<count).map { _ in [.int(random.int64()), .int(random.int64())] }
    }

    @Test func randomIntegersCrossTheWireExactly() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("WireIntegerTests.randomIntegersCrossTheWireExactly seed: \(seed)")
        var random = SeededRandom(seed: seed)
        for _ in 0..<300 {
            let rows = Self.randomRows(&random, count: Int.random(in: 1...6, using: &random))
            // A data message: the encoder's own layout, then the general parser's.
            let delta = DataMessage.delta(.init(table: Self.table, publisher: "p", epoch: "e", seq: 1, added: rows, removed: []))
            #expect(try DataMessage(decoding: delta.encoded()) == delta, "seed \(seed)")
            let spaced = "d:t {\"type\": \"delta\", \"pub\": \"p\", \"epoch\": \"e\", \"seq\": 1, \"added\": \(JSON(rows: rows).text), \"removed\": []}"
            #expect(try DataMessage(decoding: Array(spaced.utf8)) == delta, "seed \(seed)")
            // A control request's rows.
            let request = try ControlRequest(frame: Array(#"{"op":"facts","action":"insert","table":"d:t","rows":\#(JSON(rows: rows).text)}"#.utf8))
            #expect(try request.rows("rows", limits: BusLimits()) == rows, "seed \(seed)")
        }
    }

    @Test(arguments: ["9223372036854775808", "-9223372036854775809", "99999999999999999999"])
    func integersOutsideInt64AreBadJSONOnTheWire(_ number: String) {
        let request = #expect(throws: BusError.self) {
            try ControlRequest(frame: Array(#"{"op":"facts","action":"insert","table":"d:t","rows":[[\#(number)]]}"#.utf8))
        }
        #expect(request?.code == .badJSON)
        #expect(request?.message.contains("line 1, column") == true, "\(String(describing: request))")
        for layout in [
            #"d:t {"type":"delta","pub":"p","epoch":"e","seq":1,"added":[[\#(number)]],"removed":[]}"#,
            #"d:t {"type": "delta", "pub": "p", "epoch": "e", "seq": 1, "added": [[\#(number)]], "removed": []}"#,
        ] {
            let message = #expect(throws: BusError.self) { try DataMessage(decoding: Array(layout.utf8)) }
            #expect(message?.code == .badJSON, "\(layout)")
        }
    }

    /// `publish --facts`, a real process: what it serves is what the file says.
    @Test func randomIntegersThroughPublishFacts() async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("WireIntegerTests.randomIntegersThroughPublishFacts seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let rows = Self.randomRows(&random, count: 200) + SeededRandom.edgeIntegers.map { [.int($0), .int(-1)] }
        let facts = try temporaryFile("{\"t\": \(JSON(rows: rows).text)}", suffix: ".json")
        defer { try? FileManager.default.removeItem(atPath: facts) }
        try await withProcesses { processes in
            let (_, endpoint) = try await processes.dataSource("d", extra: ["--facts", facts])
            let served = try await queryRows(endpoint, "d:t")
            #expect(served == Set(rows.map { $0.map(JSON.init) }), "seed \(seed)")
        }
    }

    @Test func publishRefusesAFactsFileWithAnIntegerOutsideInt64() async throws {
        let facts = try temporaryFile("{\"t\": [[1],\n [9223372036854775808]]}", suffix: ".json")
        defer { try? FileManager.default.removeItem(atPath: facts) }
        let publish = try BusProcess("publish", ["publish", "--name", "d", "--control", "tcp://127.0.0.1:*", "--facts", facts])
        defer { publish.stop() }
        #expect(try await publish.exit() != 0)
        #expect(publish.stderrText.contains("bad-json"), "\(publish.stderrText)")
        #expect(publish.stderrText.contains("line 2, column 3"), "\(publish.stderrText)")
    }

    /// PROTOCOL.md §3: the reply to a frame that is not valid JSON echoes
    /// the request's id when one can be read.
    @Test func aNodeEchoesTheIDOfADamagedRequest() async throws {
        try await withProcesses { processes in
            let (_, endpoint) = try await processes.dataSource("d")
            let frames = [
                #"{"id": 5, "op": "hel"#, #"{"id": 5, "op": "hello",}"#, #"{"id": 5, "op": "facts", "rows": [[1e999]]}"#,
                #"{"id": 5, "op": "hello"} trailing"#, #"{"op": "facts", "id": 5, "rows": [[9223372036854775808]]}"#,
            ]
            let replies = try await offPool { try exchange(endpoint, frames.map { [Array($0.utf8)] }) }
            for (frame, reply) in zip(frames, replies) {
                #expect(reply?["id"] == .int(5), "\(frame): \(String(describing: reply))")
                #expect(reply?["error"]?["code"] == .string("bad-json"), "\(frame)")
            }
        }
    }
}
