import PolicyEngine
import Testing
import TestSupport

@testable import PolicyBus

/// The relay rewrites a reply's top-level `data` in place: only that
/// member, only at the top level, every other byte as the node wrote it.
@Suite struct TopLevelMemberTests {
    func rewrite(_ text: String) -> String? {
        TopLevelMember.replacingString("data", in: Array(text.utf8), with: "tcp://relay:1").map { String(decoding: $0.bytes, as: UTF8.self) }
    }

    @Test func theTopLevelStringIsReplacedAndTheRestKept() {
        #expect(rewrite(#"{"data":"tcp://n:2","epoch":"e"}"#) == #"{"data":"tcp://relay:1","epoch":"e"}"#)
        #expect(rewrite(#" { "id" : [1, {"data": "x"}], "s": "a\"}b", "data" : "tcp://n:2" , "tables":{"t":{"rows":[["data"]]}}}"#)
            == #" { "id" : [1, {"data": "x"}], "s": "a\"}b", "data" : "tcp://relay:1" , "tables":{"t":{"rows":[["data"]]}}}"#)
        let old = TopLevelMember.replacingString("data", in: Array(#"{"id":7,"data":"tcp://n:2"}"#.utf8), with: "x")?.old
        #expect(old == "tcp://n:2")
    }

    @Test(arguments: [
        #"{"id":1,"rows":[{"data":"tcp://n:2"}]}"#,  // nested only
        #"{"data":5}"#,  // not a string
        #"["data","tcp://n:2"]"#,  // not an object
        #"{"id":"unterminated, "data":"tcp://n:2"}"#,  // damaged before it
        #"{"ok":true,"error":{"code":"x"}}"#,
        "",
    ])
    func nothingElseIsTouched(_ text: String) {
        #expect(rewrite(text) == nil, "\(text)")
    }
}

/// Every reply shape a node writes, with random ids and random rows (strings
/// that look like JSON, `data` members and escapes among them), through the
/// relay's rewrite: a reply with a top-level `data` (hello, subscribe) parses
/// to the same JSON with only `data` changed; every other frame (errors,
/// snapshot chunks, queries, non-JSON frames, a REQ's empty delimiter, a
/// frame of many megabytes) comes back byte for byte.
@Suite struct RelayReplyRewriteTests {
    static let relayData = "tcp://0.0.0.0:7001"

    /// A random JSON value for a request `id`: anything, nested, with `data`
    /// members and strings that look like members.
    static func randomID(_ random: inout SeededRandom, depth: Int = 0) -> JSON {
        switch random.next() % (depth > 2 ? 4 : 6) {
        case 0: .int(random.int64())
        case 1: .string(random.trickyString() + ["", #"","data":"x"#, "{\"data\":1}", "\\"].randomElement(using: &random)!)
        case 2: .null
        case 3: .float(Double(random.int64()) / 4)
        case 4: .array((0..<random.next() % 3).map { _ in randomID(&random, depth: depth + 1) })
        default: .object(["data": randomID(&random, depth: depth + 1), random.trickyString(): randomID(&random, depth: depth + 1)])
        }
    }

    static func randomRows(_ random: inout SeededRandom) -> [Row] {
        (0..<random.next() % 20).map { _ in
            [.string(random.trickyString()), .int(random.int64()), .string(["data", #"{"data":"tcp://x:1"}"#, "]}"].randomElement(using: &random)!)]
        }
    }

    static func hello(_ random: inout SeededRandom) -> ControlReply.Hello {
        ControlReply.Hello(name: "n" + random.trickyString(), kind: "engine", data: "tcp://127.0.0.1:\(random.next() % 65536)",
                           epoch: "0123456789abcdef", heartbeatMilliseconds: 1000, leaseMilliseconds: 10_000)
    }

    /// A reply frame of a random shape, and whether it carries a top-level `data`.
    static func randomReply(_ random: inout SeededRandom) -> (frame: [UInt8], hasData: Bool) {
        let id: JSON? = random.next() % 4 == 0 ? nil : randomID(&random)
        switch random.next() % 7 {
        case 0:
            return (ControlReply.ok(id: id, hello(&random)), true)
        case 1:
            let table = TableID(service: "s", name: "t")
            let contents: ControlReply.Subscribed.Snapshot.Contents = switch random.next() % 3 {
            case 0: .rows(randomRows(&random))
            case 1: .chunked(id: random.trickyString(), rows: Int(random.next() % 1000))
            default: .deltas([DeltaHistory.Delta(seq: 4, added: randomRows(&random), removed: randomRows(&random))])
            }
            let snapshot = ControlReply.Subscribed.Snapshot(seq: 4, columns: ["data", "b"], contents: contents)
            return (ControlReply.ok(id: id, ControlReply.Subscribed(hello: hello(&random), snapshots: [table: snapshot])), true)
        case 2:
            let rows = randomRows(&random)
            return (ControlReply.ok(id: id, ControlReply.SnapshotChunk(offset: 0, rows: rows[...], more: 3)), false)
        case 3:
            return (ControlReply.error(id: id, BusError(.notReady, "data: " + random.trickyString())), false)
        case 4:
            return (ControlReply.ok(id: id, ControlReply.Rows(randomRows(&random), page: ControlCommand.Page(offset: 0, limit: nil))), false)
        case 5:
            return ([], false)  // a REQ's empty delimiter
        default:
            // Not JSON: random bytes, or a reply's first byte alone.
            let cut = Array(ControlReply.ok(id: id, hello(&random)).prefix(1))
            return (random.next() % 2 == 0 ? cut : (0..<random.next() % 64).map { _ in UInt8(truncatingIfNeeded: random.next()) }, false)
        }
    }

    @Test func onlyTheTopLevelDataOfAReplyChanges() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("RelayReplyRewriteTests.onlyTheTopLevelDataOfAReplyChanges seed \(seed)")
        var random = SeededRandom(seed: seed)
        for _ in 0..<2000 {
            let (frame, hasData) = Self.randomReply(&random)
            let rewritten = TopLevelMember.replacingString("data", in: frame, with: Self.relayData)
            guard hasData else {
                #expect(rewritten == nil, "seed \(seed): \(String(decoding: frame, as: UTF8.self))")
                continue
            }
            let result = try #require(rewritten, "seed \(seed): \(String(decoding: frame, as: UTF8.self))")
            guard case .object(var expected) = try JSON.parse(frame), case .object(var got) = try JSON.parse(result.bytes) else {
                Issue.record("seed \(seed): not an object")
                continue
            }
            #expect(result.old == expected["data"]?.stringValue, "seed \(seed)")
            #expect(got["data"] == .string(Self.relayData), "seed \(seed)")
            expected["data"] = nil
            got["data"] = nil
            #expect(got == expected, "seed \(seed)")
        }
    }

    /// A query reply of about 20 MB (over the 16 MiB frame limit, as a relay in
    /// front of a node with a raised reply limit sees) is scanned, found
    /// to have no `data`, and passed on untouched.
    @Test func aFrameOfManyMegabytesPassesUntouched() {
        let rows: [Row] = (0..<400_000).map { n in [.string("data-\(n)"), .int(Int64(n)), .string(#"{"data":"tcp://x:\#(n)"}"#)] }
        let frame = ControlReply.ok(id: .int(1), ControlReply.Rows(rows, page: ControlCommand.Page(offset: 0, limit: nil)))
        #expect(frame.count > 16 << 20)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(TopLevelMember.replacingString("data", in: frame, with: Self.relayData) == nil)
        print("RelayReplyRewriteTests: scanned \(frame.count) bytes in \(clock.now - start)")
    }
}

extension TopLevelMemberTests {
    @Test func aPrefixGoesAtTheStartOfTheTopLevelString() {
        func prefixed(_ text: String) -> String? {
            TopLevelMember.prefixingString("client", in: Array(text.utf8), with: Array("K|".utf8)).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(prefixed(#"{"op":"renew","client":"c\"1"}"#) == #"{"op":"renew","client":"K|c\"1"}"#)
        #expect(prefixed(#"{"op":"renew","x":{"client":"c1"}}"#) == nil)
        #expect(prefixed(#"{"op":"renew","client":7}"#) == nil)
        #expect(prefixed(#"{"op":"renew","client":"c1""#) == #"{"op":"renew","client":"K|c1""#, "damage after it: the node refuses the frame anyway")
    }
}
