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

    @Test(arguments: [#"{"op": "hello", "x": tru, "id": 5}"#, #"[{"id": 5}]"#, #"{"id": "#, "", #"{"id": 5e999}"#])
    func noIDBeyondTheDamage(_ text: String) {
        #expect(JSON.member("id", readableIn: Array(text.utf8)) == nil)
    }
}

extension String {
    fileprivate var wrapped: String { "[" + self + "]" }
}
