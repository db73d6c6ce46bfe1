import PolicyEngine
import Testing

@testable import PolicyBus
import TestSupport

@Suite struct ProtocolCodecTests {
    @Test func intsAndFloatsKeepTheirKind() throws {
        let json = try JSON.parse("[1, -7, 2.0, 1e3, \"x\", 0, 9223372036854775807]")
        #expect(json == .array([.int(1), .int(-7), .float(2.0), .float(1000), .string("x"), .int(0), .int(.max)]))
        let row = try RowCodec.row(json)
        var writer = JSONWriter()
        writer.row(row)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "[1,-7,2.0,1000.0,\"x\",0,9223372036854775807]")
    }

    @Test func rowsRejectOtherJSONTypes() throws {
        for bad in ["[true]", "[null]", "[[1]]", "[{}]"] {
            let json = try JSON.parse(bad)
            let error = #expect(throws: BusError.self) { try RowCodec.row(json) }
            #expect(error?.code == .badRequest)
        }
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "[1] 2", "\"\u{01}\"", "-", "1.", "nul"])
    func malformedJSONIsRejected(_ text: String) {
        let error = #expect(throws: JSONError.self) { try JSON.parse(text) }
        #expect(error.map(BusError.init)?.code == .badJSON)
    }

    @Test func invalidUTF8IsRejected() {
        let bytes: [UInt8] = [0x22, 0xFF, 0xFE, 0x22]
        #expect(throws: JSONError.self) { try JSON.parse(bytes) }
    }

    @Test func stringsRoundTrip() throws {
        let samples = ["", "plain", "quote \" back \\ slash", "new\nline\ttab\u{01}", "héllo ☃ 𝄞"]
        for sample in samples {
            var writer = JSONWriter()
            writer.string(sample)
            #expect(try JSON.parse(writer.bytes) == .string(sample))
        }
        #expect(try JSON.parse("\"\\ud834\\udd1e\\u00e9\"") == .string("𝄞é"))
    }

    @Test func integersEncodeExactly() throws {
        for value: Int64 in [0, 9, 10, -1, -10, 123_456_789, .max, .min] {
            var writer = JSONWriter()
            writer.int(value)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == String(value))
        }
    }

    /// Every integer width, floats and escaped strings, written and read back.
    @Test func randomRowsRoundTripThroughTheWriter() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        print("ProtocolCodecTests.randomRowsRoundTripThroughTheWriter seed: \(seed)")
        var random = SeededRandom(seed: seed)
        func value() -> Value {
            switch Int.random(in: 0..<4, using: &random) {
            case 0, 1:
                // Any magnitude: shift a random value right by 0...63 bits.
                let bits = Int64(bitPattern: random.next()) >> Int64.random(in: 0...63, using: &random)
                return .int(bits)
            case 2: return .float(Double(bitPattern: random.next() & 0x7FEF_FFFF_FFFF_FFFF) * (Bool.random(using: &random) ? 1 : -1))
            default:
                let pieces = ["a", "\"", "\\", "\n", "\u{01}", "é", "☃", " ", "\t"]
                return .string((0..<Int.random(in: 0...6, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined())
            }
        }
        for _ in 0..<2000 {
            let rows = (0..<Int.random(in: 0...3, using: &random)).map { _ in (0..<Int.random(in: 0...4, using: &random)).map { _ in value() } }
            var writer = JSONWriter()
            writer.rows(rows)
            #expect(try RowCodec.rows(try JSON.parse(writer.bytes)) == rows, "seed \(seed)")
            let unsigned = random.next() >> UInt64.random(in: 0...63, using: &random)
            var number = JSONWriter()
            number.uint(unsigned)
            #expect(String(decoding: number.bytes, as: UTF8.self) == String(unsigned), "seed \(seed)")
        }
    }

    /// A delta too large to write in one step goes row by row, with the same bytes.
    @Test func aLargeDeltaRoundTripsAndMatchesTheOneStepWriting() throws {
        let table = try #require(TableID("alice:error"))
        let rows: [Row] = (0..<3000).map { [.int(Int64($0)), .string("host \"\($0)\"\n"), .float(Double($0) / 4)] }
        #expect(JSONOutput.bound(rows) > JSONWriter.largestStep)
        let delta = DataMessage.delta(.init(table: table, publisher: "eng", epoch: "00ff", seq: 9, added: rows, removed: [rows[0]]))
        let frame = delta.encoded()
        #expect(try DataMessage(decoding: frame) == delta)
        var pieces: [UInt8] = []
        for (index, row) in rows.enumerated() {
            var writer = JSONWriter()
            writer.row(row)
            pieces += (index == 0 ? [] : Array(",".utf8)) + writer.bytes
        }
        let added = String(decoding: frame, as: UTF8.self).components(separatedBy: #""added":["#)[1].components(separatedBy: #"],"removed""#)[0]
        #expect(added == String(decoding: pieces, as: UTF8.self))
    }

    @Test func deltaRoundTrips() throws {
        let table = try #require(TableID("alice:error"))
        let delta = DataMessage.delta(
            .init(table: table, publisher: "eng", epoch: "00ff", seq: 7,
                  added: [[.int(1), .string("a")]], removed: [[.float(2.5), .string("b")]]))
        let frame = delta.encoded()
        #expect(String(decoding: frame, as: UTF8.self)
            == "alice:error {\"type\":\"delta\",\"pub\":\"eng\",\"epoch\":\"00ff\",\"seq\":7,\"added\":[[1,\"a\"]],\"removed\":[[2.5,\"b\"]]}")
        #expect(try DataMessage(decoding: frame) == delta)
        let heartbeat = DataMessage.heartbeat(.init(table: table, publisher: "eng", epoch: "00ff", seq: 3))
        #expect(try DataMessage(decoding: heartbeat.encoded()) == heartbeat)
    }

    @Test func topicEndsWithASpace() throws {
        let short = try #require(TableID("alice:error"))
        let long = try #require(TableID("alice:errors"))
        let frame = DataMessage.heartbeat(.init(table: long, publisher: "n", epoch: "e", seq: 0)).encoded()
        #expect(!frame.starts(with: DataMessage.topic(short)))
        #expect(frame.starts(with: DataMessage.topic(long)))
    }

    @Test func requestsAreValidated() throws {
        let limits = BusLimits()
        let request = try ControlRequest(frame: Array(#"{"op":"subscribe","id":3,"client":"c1","tables":["a:b","a:b","c:d"]}"#.utf8))
        #expect(request.op == "subscribe")
        #expect(request.id == .int(3))
        #expect(request.client == "c1")
        #expect(try request.tables("tables", limits: limits).map(\.description) == ["a:b", "c:d"])

        func code(_ text: String, _ check: (ControlRequest) throws(BusError) -> Void = { _ throws(BusError) in }) -> String? {
            do {
                let request = try ControlRequest(frame: Array(text.utf8))
                try check(request)
                return nil
            } catch {
                return error.code.rawValue
            }
        }
        #expect(code("[1]") == "bad-request")
        #expect(code("{}") == "bad-request")
        #expect(code("{\"op\":1}") == "bad-request")
        #expect(code("{\"op\":\"x\",\"client\":5}") == "bad-request")
        #expect(code("{\"op\":\"subscribe\",\"tables\":[\"nocolon\"]}") { r throws(BusError) in _ = try r.tables("tables", limits: limits) } == "bad-table-name")
        #expect(code("{\"op\":\"subscribe\",\"tables\":\"a:b\"}") { r throws(BusError) in _ = try r.tables("tables", limits: limits) } == "bad-request")
        #expect(code("{\"op\":\"subscribe\",\"tables\":[]}") { r throws(BusError) in _ = try r.tables("tables", limits: limits) } == "bad-request")
        let longName = "a:" + String(repeating: "b", count: 300)
        #expect(code("{\"op\":\"subscribe\",\"tables\":[\"\(longName)\"]}") { r throws(BusError) in _ = try r.tables("tables", limits: limits) } == "bad-table-name")
        var small = BusLimits()
        small.maxRowsPerRequest = 1
        #expect(code("{\"op\":\"facts\",\"rows\":[[1],[2]]}") { r throws(BusError) in _ = try r.rows("rows", limits: small) } == "too-many-rows")
    }

    @Test func repliesParse() throws {
        let ok = ControlReply.ok(id: .string("x"), ["rows": .array([])])
        #expect(try ControlReply.parse(ok)["id"] == .string("x"))
        let failure = ControlReply.error(id: nil, BusError(.unknownPolicy, "no policy 'z'"))
        do {
            _ = try ControlReply.parse(failure)
            Issue.record("expected an error")
        } catch {
            #expect(error == BusError(.unknownPolicy, "no policy 'z'"))
        }
    }
}
