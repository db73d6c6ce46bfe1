import PolicyEngine
import Testing

@testable import PolicyBus
import TestSupport

/// The fast decoder for the encoder's own layout must give exactly what the
/// general JSON path gives, and leave everything else to that path.
@Suite struct DataMessageFastDecodingTests {
    static let table = TableID("alice:error")!

    /// The general path alone: parse the body as a JSON tree.
    static func decodeGenerally(_ frame: [UInt8]) throws -> DataMessage {
        let space = frame.firstIndex(of: 0x20)!
        let body = try JSON.parse(frame[(space + 1)...])
        guard let type = body["type"]?.stringValue, let publisher = body["pub"]?.stringValue,
            let epoch = body["epoch"]?.stringValue, let seq = body["seq"]?.intValue, seq >= 0
        else { throw BusError(.badRequest, "not a data message") }
        if type == "hb" {
            return .heartbeat(.init(table: table, publisher: publisher, epoch: epoch, seq: UInt64(seq)))
        }
        guard type == "delta", let added = body["added"], let removed = body["removed"] else {
            throw BusError(.badRequest, "not a delta")
        }
        return .delta(.init(
            table: table, publisher: publisher, epoch: epoch, seq: UInt64(seq),
            added: try RowCodec.rows(added), removed: try RowCodec.rows(removed)))
    }

    static func randomValue(_ generator: inout some RandomNumberGenerator) -> Value {
        switch Int.random(in: 0..<6, using: &generator) {
        case 0: .int(.random(in: .min ... .max, using: &generator))
        case 1: .int([Int64.min, Int64.max, 0, -1, 9, 10][Int.random(in: 0..<6, using: &generator)])
        case 2: .float(Double.random(in: -1e6...1e6, using: &generator))
        case 3: .string(["", "x", "a\"b", "tab\tnew\nline", "é✓", "\u{1F600}", "back\\slash", "\u{01}"][Int.random(in: 0..<8, using: &generator)])
        default: .int(.random(in: -100...100, using: &generator))
        }
    }

    @Test func encodedMessagesDecodeToThemselvesAndAsTheGeneralPathDoes() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("DataMessageFastDecodingTests seed \(seed)")
        var generator = SeededRandom(seed: seed)
        for round in 0..<500 {
            let rows = { (generator: inout SeededRandom) -> [Row] in
                (0..<Int.random(in: 0..<4, using: &generator)).map { _ in
                    (0..<Int.random(in: 0..<4, using: &generator)).map { _ in Self.randomValue(&generator) }
                }
            }
            let message: DataMessage = round % 5 == 0
                ? .heartbeat(.init(table: Self.table, publisher: "p\(round)", epoch: TablePublisher.newEpoch(), seq: .random(in: 0...UInt64(Int64.max), using: &generator)))
                : .delta(.init(
                    table: Self.table, publisher: "pub \"\(round)\"", epoch: TablePublisher.newEpoch(),
                    seq: .random(in: 0...UInt64(Int64.max), using: &generator), added: rows(&generator), removed: rows(&generator)))
            let frame = message.encoded()
            let space = frame.firstIndex(of: 0x20)!
            let fast = try #require(DataMessage.decodeCanonical(frame, bodyStart: space + 1, table: Self.table), "seed \(seed) round \(round)")
            #expect(fast == message, "seed \(seed) round \(round)")
            #expect(fast == (try Self.decodeGenerally(frame)), "seed \(seed) round \(round)")
        }
    }

    @Test(arguments: [
        // Other layouts: valid, so the general path decodes them.
        "alice:error {\"type\":\"delta\", \"pub\":\"n\",\"epoch\":\"e\",\"seq\":1,\"added\":[],\"removed\":[]}",
        "alice:error {\"pub\":\"n\",\"type\":\"delta\",\"epoch\":\"e\",\"seq\":1,\"added\":[[1]],\"removed\":[]}",
        "alice:error {\"type\":\"hb\",\"pub\":\"n\",\"epoch\":\"e\",\"seq\":3} ",
        "alice:error {\"type\":\"delta\",\"pub\":\"n\",\"epoch\":\"e\",\"seq\":1,\"added\":[[ 1 ]],\"removed\":[],\"x\":1}",
        // Invalid: the general path rejects them with its usual error.
        "alice:error {\"type\":\"delta\",\"pub\":\"n\",\"epoch\":\"e\",\"seq\":-1,\"added\":[],\"removed\":[]}",
        "alice:error {\"type\":\"delta\",\"pub\":\"n\",\"epoch\":\"e\",\"seq\":9223372036854775808,\"added\":[],\"removed\":[]}",
        "alice:error {\"type\":\"delta\",\"pub\":\"n\",\"epoch\":\"e\",\"seq\":1,\"added\":[[true]],\"removed\":[]}",
        "alice:error {\"type\":\"delta\",\"pub\":\"n\",\"epoch\":\"e\",\"seq\":1,\"added\":[[01]],\"removed\":[]}",
        "alice:error {\"type\":\"delta\",\"pub\":\"n\",\"epoch\":\"e\",\"seq\":1,\"added\":[[1]],\"removed\":[]}}",
        "alice:error {\"type\":\"delta\",\"pub\":\"n\",\"epoch\":\"e\",\"seq\":1,\"added\":[[1]",
        "alice:error {\"type\":\"hb\",\"pub\":\"n\",\"epoch\":\"e\",\"seq\":",
    ])
    func otherLayoutsAreLeftToTheGeneralPath(_ text: String) {
        let frame = Array(text.utf8)
        let space = frame.firstIndex(of: 0x20)!
        #expect(DataMessage.decodeCanonical(frame, bodyStart: space + 1, table: Self.table) == nil)
        // The public decoder agrees with the general path: same message or an error.
        let general = try? Self.decodeGenerally(frame)
        let decoded = try? DataMessage(decoding: frame)
        #expect(decoded == general || (general == nil && decoded == nil))
    }
}
