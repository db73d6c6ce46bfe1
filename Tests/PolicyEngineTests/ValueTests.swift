import PolicyEngine
import Testing

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
}
