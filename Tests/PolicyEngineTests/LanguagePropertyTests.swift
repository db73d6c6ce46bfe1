import PolicyEngine
import Testing

/// SplitMix64: a small seeded generator, so a failing run can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct LanguagePropertyTests {
    /// A random rule text from a small grammar that covers every construct.
    private func randomRule(_ rng: inout SeededGenerator) -> String {
        let variables = ["x", "y", "Z", "_", "w2"]
        func term(_ depth: Int) -> String {
            switch Int.random(in: 0..<(depth > 1 ? 4 : 6), using: &rng) {
            case 0: return String(Int64.random(in: -1000...1000, using: &rng))
            case 1: return ["\"a\"", "\"q\\\"t\"", "\"\\u00e9\"", "2.5", "-0.25"].randomElement(using: &rng)!
            case 2, 3: return variables.randomElement(using: &rng)!
            case 4: return "(" + term(depth + 1) + ")"
            default: return term(depth + 1) + ["+", "-", "*", "/"].randomElement(using: &rng)! + term(depth + 1)
            }
        }
        func atom() -> String {
            let name = ["p", "q", "nova:servers", "bob:t", "r"].randomElement(using: &rng)!
            let count = Int.random(in: 0...3, using: &rng)
            let space = Bool.random(using: &rng) ? " " : ""
            return name + space + "(" + (0..<count).map { _ in term(0) }.joined(separator: " ,") + ")"
        }
        func literal() -> String {
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: return ["not ", "NOT ", "!"].randomElement(using: &rng)! + atom()
            case 1: return term(0) + ["<", "<=", ">", ">=", "=", "!="].randomElement(using: &rng)! + term(0)
            case 2: return ["plus", "builtin:lt", "len", "concat"].randomElement(using: &rng)! + "(" + term(1) + "," + term(1) + ")"
            default: return atom()
            }
        }
        let body = (0..<Int.random(in: 1...4, using: &rng)).map { _ in literal() }
        return "h(" + term(0) + ")  :-" + body.joined(separator: " , ") + [".", ";", ""].randomElement(using: &rng)!
    }

    @Test func canonicalTextReadsBackAsTheSameRule() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("LanguagePropertyTests.canonicalTextReadsBackAsTheSameRule seed: \(seed)")
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<2000 {
            let text = randomRule(&rng)
            let rule = try #require(try PolicyParser.parse(text, policy: "alice").rules.first, "seed \(seed): \(text)")
            let again = try PolicyParser.parse(rule.text, policy: "alice").rules.first
            #expect(again?.text == rule.text, "seed \(seed): \(text)")
            #expect(again?.body.count == rule.body.count, "seed \(seed): \(text)")
        }
    }

    @Test func damagedTextFailsCleanlyWithALocationInsideTheText() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("LanguagePropertyTests.damagedTextFailsCleanlyWithALocationInsideTheText seed: \(seed)")
        var rng = SeededGenerator(seed: seed)
        let pieces = ["(", ")", ",", ":-", ":", "\"", "\\", "_", "x", "1", ".", ";", "not ", "!", "=", "+", "\n", " ", "#", "-"]
        for _ in 0..<2000 {
            var scalars = Array(randomRule(&rng).unicodeScalars)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0...scalars.count, using: &rng)
                if Bool.random(using: &rng), at < scalars.count {
                    scalars.remove(at: at)
                } else {
                    scalars.insert(contentsOf: pieces.randomElement(using: &rng)!.unicodeScalars, at: at)
                }
            }
            var text = ""
            text.unicodeScalars.append(contentsOf: scalars)
            do {
                let parsed = try PolicyParser.parse(text, policy: "alice")
                _ = try ProgramChecker(policies: ["alice", "bob"]).check(parsed.rules, facts: parsed.facts)
            } catch {
                let location = try #require(error.location, "seed \(seed): \(text)")
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                #expect(location.line >= 1 && location.line <= lines.count, "seed \(seed): \(text) \(error)")
                if location.line >= 1 && location.line <= lines.count {
                    let width = lines[location.line - 1].unicodeScalars.count
                    #expect(location.column >= 1 && location.column <= width + 1, "seed \(seed): \(text) \(error)")
                }
                #expect(!error.message.isEmpty)
            }
        }
    }
}
