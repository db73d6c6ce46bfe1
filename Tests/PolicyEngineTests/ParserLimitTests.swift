import PolicyEngine
import Testing

/// Hostile text must get a syntax error, not exhaust the stack: the parser,
/// the lowering and the evaluator all recurse over expressions.
@Suite struct ParserLimitTests {
    static let hostile: [(name: String, text: String)] = [
        ("nested parentheses", "p(x) :- q(y), x = " + String(repeating: "(", count: 5_000) + "y" + String(repeating: ")", count: 5_000)),
        ("long sum", "p(x) :- q(y), x = y" + String(repeating: " + 1", count: 5_000)),
        ("unary minus chain", "p(x) :- q(y), x = " + String(repeating: "- ", count: 5_000) + "y"),
    ]

    @Test(arguments: hostile)
    func oversizedExpressionsAreSyntaxErrors(_ input: (name: String, text: String)) {
        #expect(throws: PolicyError.self, "\(input.name)") { try PolicyParser.parse(input.text, policy: "alice") }
        do {
            _ = try PolicyParser.parse(input.text, policy: "alice")
        } catch {
            #expect(error.code == .syntaxError)
            #expect(error.location?.line == 1)
            #expect(error.message.contains("split it with intermediate variables"))
        }
    }

    @Test func expressionsUpToTheLimitAreAccepted() throws {
        let sum = "p(x) :- q(y), x = y" + String(repeating: " + 1", count: 64)
        let nested = "p(x) :- q(y), x = " + String(repeating: "(", count: 60) + "y" + String(repeating: ")", count: 60)
        #expect(try PolicyParser.parse(sum, policy: "alice").rules.count == 1)
        #expect(try PolicyParser.parse(nested, policy: "alice").rules.count == 1)
    }
}
