import PolicyEngine
import Testing
import TestSupport

@Suite struct ValueTests {
    @Test func valuesOfDifferentKindsAreNeverEqual() {
        #expect(Value.int(6) != Value.string("6"))
        #expect(Value.int(6) != Value.float(6))
    }

    @Test func sortsNumbersBeforeStrings() {
        let sorted = [Value.string("a"), .float(2.5), .int(3), .int(1)].sorted()
        #expect(sorted == [.int(1), .float(2.5), .int(3), .string("a")])
    }

    @Test func printsFloatsSoTheyReadBackAsFloats() {
        #expect(Value.float(2).description == "2.0")
        #expect(Value.string("a\"b").description == #""a\"b""#)
    }

    @Test(arguments: ["alice:error", "nova:servers", "a-b.c:d_1"])
    func parsesQualifiedTableNames(_ text: String) throws {
        let table = try #require(TableID(text))
        #expect(table.description == text)
    }

    @Test(arguments: ["error", "a:b:c", ":x", "x:", "1a:b", "a b:c", "a:b "])
    func rejectsMalformedTableNames(_ text: String) {
        #expect(TableID(text) == nil)
    }

    /// The byte-level parser agrees with the definition: two identifiers
    /// (letters, digits, `_`, `-`, `.`, not starting with a digit) around one `:`.
    @Test func parsesTableNamesAsDefined() {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("ValueTests.parsesTableNamesAsDefined seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let pieces = ["a", "Z", "0", "9", "_", "-", ".", ":", " ", "é", "\u{301}", "☃", "\u{0}"]
        func isIdentifier(_ text: Substring) -> Bool {
            guard let first = text.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
            return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0) }
        }
        for _ in 0..<5000 {
            let text = (0..<Int.random(in: 0...6, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            let parts = text.unicodeScalars.split(separator: ":", omittingEmptySubsequences: false).map { Substring(String($0)) }
            let valid = parts.count == 2 && isIdentifier(parts[0]) && isIdentifier(parts[1])
            let table = TableID(text)
            #expect((table != nil) == valid, "seed \(seed): \(text.debugDescription)")
            if let table { #expect(table.description == text, "seed \(seed)") }
        }
    }
}
