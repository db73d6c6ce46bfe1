import Foundation
import PolicyEngine
import Testing
import TestSupport

/// The one JSON reader and writer every input and output goes through.
@Suite struct JSONTests {
    @Test(arguments: [
        ("{\n  \"a\": tru\n}", 2, 8),
        ("[1,\n2,\n3", 3, 2),
        ("{\"a\": 1,\n \"b\" 2}", 2, 6),
        ("[1] x", 1, 5),
        ("[\"\\q\"]", 1, 4),
    ])
    func malformedJSONNamesTheLineAndColumn(_ text: String, _ line: Int, _ column: Int) {
        let error = #expect(throws: JSONError.self) { try JSON.parse(text) }
        #expect(error?.line == line, "\(text.debugDescription): \(String(describing: error))")
        #expect(error?.column == column, "\(text.debugDescription): \(String(describing: error))")
        #expect(error?.message.hasSuffix("at line \(line), column \(column)") == true)
    }

    @Test(arguments: ["9223372036854775808", "-9223372036854775809", "99999999999999999999", "18446744073709551616", "[1, 100000000000000000000000]"])
    func integersOutsideInt64AreRefusedNotRounded(_ text: String) {
        let error = #expect(throws: JSONError.self) { try JSON.parse(text) }
        #expect(error?.message.contains("out of range") == true, "\(String(describing: error))")
    }

    @Test func integersKeepTheirExactValueAtTheEdges() throws {
        let text = "[9223372036854775807,-9223372036854775808,-1000000000000000000,-0,0,123456789012345678,1e20,-1.0]"
        #expect(try JSON.parse(text) == .array([
            .int(.max), .int(.min), .int(-1_000_000_000_000_000_000), .int(0), .int(0), .int(123456789012345678), .float(1e20), .float(-1),
        ]))
    }

    @Test func randomIntegersRoundTripAsIntegers() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("JSONTests.randomIntegersRoundTripAsIntegers seed: \(seed)")
        var random = SeededRandom(seed: seed)
        for _ in 0..<2000 {
            let values = (0..<Int.random(in: 1...8, using: &random)).map { _ in random.int64() }
            let json = JSON.array(values.map(JSON.int))
            #expect(try JSON.parse(json.text) == json, "seed \(seed): \(json.text)")
            #expect(try JSON.parse(values.map { String($0) }.joined(separator: " ,\n ").wrapped) == json, "seed \(seed)")
        }
    }

    /// A reply to a malformed request still echoes its id when the id comes
    /// before the damage (PROTOCOL.md §3).
    @Test(arguments: [
        #"{"id": 5, "op": "hel"#,
        #"{"id": 5, "op": "hello",}"#,
        #"{"id": 5, "op": "facts", "rows": [[1e999]]}"#,
        #"{"id": 5, "op": "hello"} trailing"#,
        #"{"op": "hello", "id": 5, "rows": [[99999999999999999999]]}"#,
        #" {"id":5"#,
    ])
    func theIDIsReadFromADamagedRequest(_ text: String) {
        #expect((try? JSON.parse(text)) == nil)
        #expect(JSON.member("id", readableIn: Array(text.utf8)) == .int(5))
    }

    /// An array longer than the limit stops the parse there, and says so.
    @Test func anArrayOverTheElementLimitStopsTheParse() throws {
        #expect(try JSON.parse(Array("[[1,2,3],[4,5,6]]".utf8), maxArrayCount: 3) == .array([.array([1, 2, 3].map(JSON.int)), .array([4, 5, 6].map(JSON.int))]))
        for text in ["[1,2,3,4]", #"{"a": [[1,2,3,4]]}"#, "[1,2,3,4" + String(repeating: ",0", count: 100_000) + "]"] {
            let error = #expect(throws: JSONError.self) { try JSON.parse(Array(text.utf8), maxArrayCount: 3) }
            #expect(error?.elementLimit == 3, "\(text.prefix(40)): \(String(describing: error))")
        }
        // Malformed JSON is no element limit.
        #expect((#expect(throws: JSONError.self) { try JSON.parse(Array("[1,2".utf8), maxArrayCount: 3) })?.elementLimit == nil)
        #expect(JSON.member("id", readableIn: Array(#"{"id": 5, "rows": [1,2,3,4]}"#.utf8), maxArrayCount: 3) == .int(5))
        #expect(JSON.member("id", readableIn: Array(#"{"rows": [1,2,3,4], "id": 5}"#.utf8), maxArrayCount: 3) == nil)
    }

    @Test(arguments: [#"{"op": "hello", "x": tru, "id": 5}"#, #"[{"id": 5}]"#, #"{"id": "#, "", #"{"id": 5e999}"#])
    func noIDBeyondTheDamage(_ text: String) {
        #expect(JSON.member("id", readableIn: Array(text.utf8)) == nil)
    }
}

extension String {
    fileprivate var wrapped: String { "[" + self + "]" }
}

/// The parser against the writer on random documents, and its string scan
/// (eight bytes at a time) against a byte-by-byte model.
@Suite struct JSONRoundTripTests {
    @Test func randomDocumentsRoundTripThroughTheWriter() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("JSONRoundTripTests.randomDocumentsRoundTripThroughTheWriter seed: \(seed)")
        var random = SeededRandom(seed: seed)
        for _ in 0..<500 {
            let json = Self.value(&random, depth: 0)
            let text = json.text
            #expect(try JSON.parse(text) == json, "seed \(seed): \(text.prefix(500))")
            // The same document spread out with whitespace between its tokens.
            #expect(try JSON.parse(" \n" + text + "\t ") == json, "seed \(seed)")
        }
    }

    @Test func theStringScanFindsWhatTheBytesSay() {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("JSONRoundTripTests.theStringScanFindsWhatTheBytesSay seed: \(seed)")
        var random = SeededRandom(seed: seed)
        // Mostly plain bytes, with now and then one that ends a run or is not ASCII.
        let special: [UInt8] = [0x22, 0x5C, 0x00, 0x1F, 0x20, 0x21, 0x7F, 0x80, 0xC3, 0xFF, 0x5B, 0x5D]
        for _ in 0..<5000 {
            let bytes = (0..<Int.random(in: 0...40, using: &random)).map { _ in
                random.next() % 8 == 0 ? special.randomElement(using: &random)! : UInt8.random(in: 0x20...0x7E, using: &random)
            }
            let start = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &random)
            var end = start
            var high: UInt8 = 0
            while end < bytes.count, bytes[end] != 0x22, bytes[end] != 0x5C, bytes[end] >= 0x20 {
                high |= bytes[end] & 0x80
                end += 1
            }
            let found = bytes.withUnsafeBufferPointer { JSONParser.plainRun($0, from: start) }
            #expect(found.end == end && (found.high & 0x80) == high, "seed \(seed): \(bytes) from \(start)")
        }
    }

    /// A random value: scalars at the leaves, arrays and objects up to depth 4,
    /// strings short and long (past the scan's eight-byte steps) with escapes
    /// and non-ASCII anywhere.
    static func value(_ random: inout SeededRandom, depth: Int) -> JSON {
        switch random.next() % (depth < 4 ? 8 : 6) {
        case 0: return .null
        case 1: return .bool(random.next() % 2 == 0)
        case 2: return .int(random.int64())
        case 3: return .float(Double(Int64(bitPattern: random.next()) >> 20) / 1024)
        case 4: return .string(random.trickyString(maxPieces: 6))
        case 5:
            let plain = String(repeating: "x", count: Int.random(in: 0...40, using: &random))
            return .string(plain + random.trickyString(maxPieces: 2) + plain)
        case 6: return .array((0..<Int.random(in: 0...5, using: &random)).map { _ in value(&random, depth: depth + 1) })
        default:
            var members: [String: JSON] = [:]
            for _ in 0..<Int.random(in: 0...10, using: &random) {
                members[random.trickyString(maxPieces: 3)] = value(&random, depth: depth + 1)
            }
            return .object(members)
        }
    }
}
