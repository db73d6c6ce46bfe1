import PolicyEngine
import Testing
import TestSupport

@Suite struct LanguagePropertyTests {
    /// A random rule text from a small grammar that covers every construct.
    func randomRule(_ rng: inout SeededRandom, grounded: Bool = false) -> String {
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
            if count == 0, Bool.random(using: &rng) { return name }  // a table with no columns, written bare
            let space = Bool.random(using: &rng) ? " " : ""
            return name + space + "(" + (0..<count).map { _ in term(0) }.joined(separator: " ,") + ")"
        }
        func literal() -> String {
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: return ["not ", "NOT ", "!"].randomElement(using: &rng)! + atom()
            case 1: return term(0) + ["<", "<=", ">", ">=", "=", "!="].randomElement(using: &rng)! + term(0)
            case 2:
                let (name, count) = [("plus", 3), ("builtin:lt", 2), ("len", 2), ("concat", 3), ("max", 3)].randomElement(using: &rng)!
                return name + "(" + (0..<count).map { _ in term(1) }.joined(separator: ",") + ")"
            default: return atom()
            }
        }
        // A grounded rule starts with literals that bind every named variable, so that it is usually safe.
        let body = (grounded ? ["r(x, y, Z)", "p(w2)"] : []) + (0..<Int.random(in: 1...4, using: &rng)).map { _ in literal() }
        return "h(" + term(0) + ")  :-" + body.joined(separator: " , ") + [".", ";", ""].randomElement(using: &rng)!
    }

    /// `rules list` prints canonical texts one per line, without terminators;
    /// read back as one policy they must give the same rules, in order.
    @Test func canonicalTextsOnePerLineReadBackAsTheSameRules() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("LanguagePropertyTests.canonicalTextsOnePerLineReadBackAsTheSameRules seed: \(seed)")
        var rng = SeededRandom(seed: seed)
        for _ in 0..<400 {
            let texts = (0..<5).map { _ in randomRule(&rng) }
            let rules = try texts.map { text in
                try #require(try PolicyParser.parse(text, policy: "alice").rules.first, "seed \(seed): \(text)")
            }
            let listing = rules.map(\.text).joined(separator: "\n")
            let again = try PolicyParser.parse(listing, policy: "alice").rules
            #expect(again.map(\.text) == rules.map(\.text), "seed \(seed):\n\(listing)")
            #expect(again.map(\.body.count) == rules.map(\.body.count), "seed \(seed):\n\(listing)")
        }
    }

    @Test func damagedTextFailsCleanlyWithALocationInsideTheText() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("LanguagePropertyTests.damagedTextFailsCleanlyWithALocationInsideTheText seed: \(seed)")
        var rng = SeededRandom(seed: seed)
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

    /// Whether some order of the lowered body binds every variable before the engine reads it,
    /// judged from the `CheckedRule` alone (the engine's view), independently of the checker.
    private func isSafeForTheEngine(_ rule: CheckedRule) -> Bool {
        func variables(_ expression: Expression) -> Set<Int> {
            switch expression {
            case .variable(let slot): [slot]
            case .constant: []
            case .arithmetic(_, let left, let right): variables(left).union(variables(right))
            }
        }
        func variables(_ patterns: [Pattern]) -> Set<Int> {
            Set(patterns.compactMap { if case .variable(let slot) = $0 { slot } else { nil } })
        }
        var bound: Set<Int> = []
        var pending = rule.body
        var progressed = true
        while progressed {
            progressed = false
            pending.removeAll { literal in
                switch literal {
                case .positive(_, let patterns):
                    bound.formUnion(variables(patterns))
                case .negative(_, let patterns):
                    guard variables(patterns).isSubset(of: bound) else { return false }
                case .function(_, let inputs, let output):
                    guard inputs.allSatisfy({ variables($0).isSubset(of: bound) }) else { return false }
                    bound.formUnion(variables([output]))
                case .comparison(let op, let left, let right):
                    let leftBound = variables(left).isSubset(of: bound)
                    let rightBound = variables(right).isSubset(of: bound)
                    if leftBound && rightBound {
                    } else if op == .equal, leftBound, case .variable(let slot) = right {
                        bound.insert(slot)
                    } else if op == .equal, rightBound, case .variable(let slot) = left {
                        bound.insert(slot)
                    } else {
                        return false
                    }
                }
                progressed = true
                return true
            }
        }
        return pending.isEmpty && rule.headArguments.allSatisfy { variables($0).isSubset(of: bound) }
    }

    private func isWellFormed(_ rule: CheckedRule) -> Bool {
        func slots(_ expression: Expression) -> [Int] {
            switch expression {
            case .variable(let slot): [slot]
            case .constant: []
            case .arithmetic(_, let left, let right): slots(left) + slots(right)
            }
        }
        var used: [Int] = rule.headArguments.flatMap(slots)
        for literal in rule.body {
            switch literal {
            case .positive(_, let patterns), .negative(_, let patterns):
                used += patterns.compactMap { if case .variable(let slot) = $0 { slot } else { nil } }
            case .function(_, let inputs, let output):
                used += inputs.flatMap(slots)
                if case .variable(let slot) = output { used.append(slot) }
            case .comparison(_, let left, let right):
                used += slots(left) + slots(right)
            }
        }
        return used.allSatisfy { $0 >= 0 && $0 < rule.variableCount } && Set(rule.variableNames).count == rule.variableCount
    }

    @Test func acceptedRulesAreSafeInTheEnginesTerms() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("LanguagePropertyTests.acceptedRulesAreSafeInTheEnginesTerms seed: \(seed)")
        var rng = SeededRandom(seed: seed)
        let tables = [("p", 1), ("q", 2), ("r", 3), ("nova:servers", 2), ("bob:t", 1)]
        var accepted = 0
        for _ in 0..<3000 {
            let text = randomRule(&rng, grounded: Int.random(in: 0..<4, using: &rng) > 0)
            // Give every table one width so that most rules get past the arity check.
            guard let parsed = try? PolicyParser.parse(text, policy: "alice"),
                parsed.rules.allSatisfy({ rule in
                    rule.body.allSatisfy { literal in
                        switch literal {
                        case .positive(let atom), .negative(let atom, _):
                            let name = (atom.service.map { $0 + ":" } ?? "") + atom.name
                            return tables.first { $0.0 == name }.map { $0.1 == atom.arguments.count } ?? true
                        case .comparison: return true
                        }
                    }
                })
            else { continue }
            guard let program = try? ProgramChecker(policies: ["alice", "bob"]).check(parsed.rules) else { continue }
            accepted += 1
            for rule in program.rules {
                #expect(isSafeForTheEngine(rule), "seed \(seed): \(text) -> \(rule)")
                #expect(isWellFormed(rule), "seed \(seed): \(text) -> \(rule)")
            }
        }
        print("accepted \(accepted) random rules")
        #expect(accepted > 150, "seed \(seed): too few random rules were accepted to test anything")
    }

    @Test func stratificationMatchesAnIndependentCycleSearch() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("LanguagePropertyTests.stratificationMatchesAnIndependentCycleSearch seed: \(seed)")
        var rng = SeededRandom(seed: seed)
        let policies = ["alice", "bob"]
        let names = ["a", "b", "c", "d", "e"]
        var rejected = 0
        for _ in 0..<500 {
            // Random rules `h(x) :- t1(x), [not] t2(x)` over ten tables in two policies.
            var texts: [String: String] = [:]
            var edges: [(from: String, to: String, negated: Bool)] = []
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let policy = policies.randomElement(using: &rng)!
                let head = names.randomElement(using: &rng)!
                let positive = policies.randomElement(using: &rng)! + ":" + names.randomElement(using: &rng)!
                var body = [positive + "(x)"]
                edges.append((positive, policy + ":" + head, false))
                if Bool.random(using: &rng) {
                    let negative = policies.randomElement(using: &rng)! + ":" + names.randomElement(using: &rng)!
                    body.append("not " + negative + "(x)")
                    edges.append((negative, policy + ":" + head, true))
                }
                texts[policy, default: ""] += "\(head)(x) :- \(body.joined(separator: ", "))\n"
            }
            func reaches(_ from: String, _ to: String) -> Bool {
                var seen: Set<String> = [from]
                var work = [from]
                while let node = work.popLast() {
                    if node == to { return true }
                    for edge in edges where edge.from == node && seen.insert(edge.to).inserted { work.append(edge.to) }
                }
                return false
            }
            let unstratified = edges.contains { $0.negated && reaches($0.to, $0.from) }
            do {
                let program = try Language.check(texts)
                #expect(!unstratified, "seed \(seed): accepted \(texts)")
                for edge in edges {
                    let from = try #require(program.strata[TableID(edge.from)!], "seed \(seed): no stratum for \(edge.from)")
                    let to = try #require(program.strata[TableID(edge.to)!], "seed \(seed): no stratum for \(edge.to)")
                    #expect(edge.negated ? to > from : to >= from, "seed \(seed): \(edge) in \(texts)")
                }
            } catch let error as PolicyError {
                rejected += 1
                #expect(error.code == .unstratifiedNegation, "seed \(seed): \(error)")
                #expect(unstratified, "seed \(seed): rejected \(texts): \(error)")
            }
        }
        print("rejected \(rejected) of 500 random programs as unstratified")
    }
}
