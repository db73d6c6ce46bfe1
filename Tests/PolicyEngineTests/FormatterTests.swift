import Foundation
import PolicyEngine
import Testing
import TestSupport

@Suite struct FormatterTests {
    @Test func writesCanonicalTextAndKeepsComments() throws {
        let text = """
            # header comment

            error(vm):-nova:servers(vm,host),!allowed(host).   // trailing
            allowed( "h1" ); allowed("h2")


            // before a long rule
            repeat_offender(owner) :- compliance:error(vm1, owner, _), compliance:error(vm2, owner, _), vm1 != vm2
            h(x) :-
                p(x),   # why p
                # before q
                q(x)
            """
        let expected = """
            # header comment

            error(vm) :- nova:servers(vm, host), not allowed(host)  // trailing
            allowed("h1")
            allowed("h2")

            // before a long rule
            repeat_offender(owner) :-
                compliance:error(vm1, owner, _),
                compliance:error(vm2, owner, _),
                vm1 != vm2
            h(x) :-
                p(x),  # why p
                # before q
                q(x)

            """
        let formatted = try PolicyFormatter.format(text, policy: "alice")
        #expect(formatted == expected)
        #expect(try PolicyFormatter.format(formatted, policy: "alice") == formatted)
    }

    @Test func aHashInsideAStringIsNotAComment() throws {
        let formatted = try PolicyFormatter.format(#"p("a # b", "c // d")  # real"#, policy: "alice")
        #expect(formatted == #"p("a # b", "c // d")  # real"# + "\n")
    }

    @Test func aSyntaxErrorIsReported() throws {
        #expect(throws: PolicyError.self) { try PolicyFormatter.format("h(x) :- p(x) q(x)", policy: "alice") }
    }

    /// A random program: random rules and facts, random spacing and
    /// terminators, with numbered comments on their own lines, after code, and
    /// inside rules.
    private func randomProgram(_ rng: inout SeededRandom) -> (text: String, comments: [String]) {
        var text = ""
        var comments: [String] = []
        func comment() -> String {
            let body = ["#", "//"].randomElement(using: &rng)! + " note \(comments.count)"
            comments.append(body)
            return body
        }
        for _ in 0..<Int.random(in: 0...8, using: &rng) {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: text += comment() + "\n"
            case 1: text += "\n"
            case 2: text += "p(\(Int.random(in: -5...5, using: &rng)), \"s\")" + [".", ";", ""].randomElement(using: &rng)! + "\n"
            default:
                var rule = LanguagePropertyTests().randomRule(&rng)
                while let range = rule.range(of: " , "), Bool.random(using: &rng) {
                    rule.replaceSubrange(range, with: Bool.random(using: &rng) ? ",  " + comment() + "\n  " : ",\n")
                }
                text += rule + (Bool.random(using: &rng) ? "   " + comment() : "") + "\n"
            }
        }
        return (text, comments)
    }

    @Test func formattingIsIdempotentKeepsRulesAndComments() throws {
        let seed = ProcessInfo.processInfo.environment["POLICY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("FormatterTests.formattingIsIdempotentKeepsRulesAndComments seed: \(seed) (rerun with POLICY_SEED=\(seed))")
        var rng = SeededRandom(seed: seed)
        var formattedPrograms = 0
        for _ in 0..<500 {
            let (text, comments) = randomProgram(&rng)
            guard let before = try? PolicyParser.parse(text, policy: "alice") else { continue }
            formattedPrograms += 1
            let once = try PolicyFormatter.format(text, policy: "alice")
            let after = try PolicyParser.parse(once, policy: "alice")
            #expect(after.rules.map(\.text) == before.rules.map(\.text), "seed \(seed):\n\(text)\n---\n\(once)")
            #expect(after.facts.map(\.values) == before.facts.map(\.values), "seed \(seed):\n\(text)\n---\n\(once)")
            #expect(try PolicyFormatter.format(once, policy: "alice") == once, "seed \(seed):\n\(text)\n---\n\(once)")
            // Every comment once, in the original order.
            var rest = Substring(once)
            for comment in comments {
                guard let range = rest.range(of: comment + "\n") ?? rest.range(of: comment + " ") else {
                    Issue.record("seed \(seed): lost or reordered '\(comment)':\n\(text)\n---\n\(once)")
                    break
                }
                rest = rest[range.upperBound...]
            }
        }
        #expect(formattedPrograms > 300, "seed \(seed): too few random programs parsed to test anything")
    }
}
