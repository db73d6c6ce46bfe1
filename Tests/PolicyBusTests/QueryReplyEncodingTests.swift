import PolicyEngine
import Testing

@testable import PolicyBus
import TestSupport

/// A `query` reply is written row by row (`ControlReply.Rows.encoded`), not
/// through a JSON tree: it must be the same bytes the tree gives, and it is
/// refused (`reply-too-large`) once it passes the limit.
@Suite struct QueryReplyEncodingTests {
    static func value(_ random: inout SeededRandom) -> Value {
        switch random.next() % 4 {
        case 0: .int(random.int64())
        case 1: .float([0.5, -2.0, 1e300, 3.14159, .nan, .infinity, -0.0][Int(random.next() % 7)])
        default: .string(random.trickyString())
        }
    }

    @Test func rowsWrittenStraightAreTheTreesBytes() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("QueryReplyEncodingTests seed \(seed)")
        var random = SeededRandom(seed: seed)
        let ids: [JSON?] = [nil, .int(7), .string("a\"b"), .array([.int(1), .object(["k": .null])]), .float(2.5)]
        for round in 0..<50 {
            let rows = (0..<Int(random.next() % 3000)).map { _ in (0..<Int(random.next() % 4)).map { _ in Self.value(&random) } }
            let page = ControlCommand.Page(offset: Int(random.next() % 100), limit: random.next() % 2 == 0 ? nil : Int(random.next() % 2000))
            let body = ControlReply.Rows(rows, page: page)
            let id = ids[round % ids.count]
            let tree = ControlReply.ok(id: id, body)
            #expect(body.encoded(id: id, limit: .max) == tree, "seed \(seed), round \(round)")
            // At the limit it goes out; a byte under, it is refused.
            #expect(body.encoded(id: id, limit: tree.count) == tree, "seed \(seed), round \(round)")
            #expect(body.encoded(id: id, limit: tree.count - 1) == nil, "seed \(seed), round \(round)")
        }
    }

    @Test func aReplyOverTheLimitIsRefusedWithAWayToPage() throws {
        let rows = (0..<5000).map { [Value.int(Int64($0)), .string("row \($0)")] }
        let command = ControlCommand.query("d:q", ControlCommand.Page())
        var limits = BusLimits()
        limits.maxReplyBytes = 10_000
        do {
            _ = try ControlReply.ok(id: .int(1), ControlReply.Rows(rows, page: ControlCommand.Page()), to: command, limits: limits)
            Issue.record("a reply of 5000 rows went out under a 10,000-byte limit")
        } catch {
            #expect(error.code == .replyTooLarge)
            #expect(error.message.contains("more than 10000 bytes"), "\(error.message)")
            #expect(error.message.contains("\"limit\" items from \"offset\""), "\(error.message)")
        }
        let page = ControlCommand.Page(offset: 10, limit: 100)
        let reply = try ControlReply.ok(id: .int(1), ControlReply.Rows(rows, page: page), to: command, limits: limits)
        let json = try JSON.parse(reply)
        #expect(json["rows"]?.arrayValue?.count == 100)
        #expect(json["more"] == .int(4890))
    }
}
