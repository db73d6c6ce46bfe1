import Testing
import TestSupport

@testable import PolicyEngine

/// Issue 14: values compare exactly, and the builtins are Congress's. Each
/// case uses the issue's values; Congress's answers are the expected ones.
@Suite struct ValueSemanticsTests {
    func evaluate(_ policy: String, facts: String, tables: [String]) throws -> [(table: TableID, rows: [[Value]])] {
        let facts = try OfflineEvaluation.parseFacts(Array(facts.utf8))
        return try OfflineEvaluation.evaluate(policies: [.init(name: "a", text: policy)], facts: facts, tables: tables)
    }

    func rows(_ policy: String, facts: String = "{}", table: String) throws -> [[Value]] {
        try evaluate(policy, facts: facts, tables: [table])[0].rows
    }

    // MARK: - 1. Strings that look alike are two values

    @Test func canonicallyEquivalentStringsLoadAsTwoRows() throws {
        let rows = try rows("", facts: #"{"p": [["\u00e9"], ["e\u0301"]]}"#, table: "p")
        #expect(rows.count == 2)
        let texts = rows.compactMap { if case .string(let text) = $0[0] { text } else { nil } }
        #expect(texts.map { Array($0.unicodeScalars) }.sorted { $0.count < $1.count } == [["\u{E9}"], ["e", "\u{301}"]])
    }

    @Test func negationDoesNotMatchACanonicallyEquivalentString() throws {
        let rows = try rows(#"n(x) :- q(x), not r(x)"#, facts: #"{"q": [["é"]], "r": [["e\u0301"]]}"#, table: "n")
        #expect(rows.count == 1)
        #expect(rows.first.map { sameScalars("\($0[0])", "\"\u{E9}\"") } == true, "\(rows)")
    }

    @Test func aStoredStringIsNeverRewritten() throws {
        let tables = try evaluate("h(x, y) :- p(x, y)", facts: #"{"p": [["\u00c5", "\u212b"]]}"#, tables: ["h"])
        let json = OfflineEvaluation.json(tables)
        #expect(Array(json.unicodeScalars) == Array(#"{"tables": {"a:h": [["\#u{C5}", "\#u{212B}"]]}}"#.unicodeScalars), "\(json)")
        let text = OfflineEvaluation.text(tables)
        #expect(text.unicodeScalars.contains("\u{212B}"), "\(text)")
    }

    @Test func stringsOrderByCodePoints() throws {
        let rows = try rows("l(x, y) :- s(x), s(y), x < y", facts: #"{"s": [["f"], ["e\u0301"]]}"#, table: "l")
        #expect(rows.count == 1)
        #expect(rows.first.map { sameScalars("\($0[0])\($0[1])", "\"e\u{301}\"\"f\"") } == true, "\(rows)")
        #expect(Value.string("e\u{301}") < .string("f"))
        #expect(!(Value.string("f") < .string("e\u{301}")))
        #expect(BuiltinEvaluation.compare(.greater, .string("f"), .string("e\u{301}")))
    }

    @Test func maxOfStringsIsTheLaterByCodePoints() {
        #expect(BuiltinEvaluation.call(.max, [.string("f"), .string("\u{E9}")]) == .string("\u{E9}"))
        #expect(BuiltinEvaluation.call(.max, [.string("f"), .string("e\u{301}")]) == .string("f"))
    }

    /// Rules are identified by their text, and texts compare by scalars too:
    /// a rule with `"e\u{301}"` is not the rule with `"\u{E9}"`.
    @Test func rulesDifferingInCanonicallyEquivalentStringsAreTwoRules() throws {
        let composed = "h(x) :- p(x), x = \"\u{E9}\""
        let decomposed = "h(x) :- p(x), x = \"e\u{301}\""
        let engine = Engine()
        try engine.createPolicy("a")
        var transaction = Transaction()
        transaction.insertRules(composed + "\n" + decomposed, policy: "a")
        transaction.insert([.string("\u{E9}")], into: TableID("a:p")!)
        transaction.insert([.string("e\u{301}")], into: TableID("a:p")!)
        try engine.apply(transaction)
        #expect(try engine.rules(in: "a").count == 2)
        #expect(engine.rows(of: TableID("a:h")!).count == 2)
        var delete = Transaction()
        delete.deleteRules(decomposed, policy: "a")
        try engine.apply(delete)
        let rules = try engine.rules(in: "a")
        #expect(rules.count == 1 && rules.allSatisfy { sameScalars($0, composed) }, "\(rules)")
        #expect(engine.rows(of: TableID("a:h")!) == [[.string("\u{E9}")]])
    }

    // MARK: - 2. len counts Unicode scalars

    @Test func lenCountsUnicodeScalars() throws {
        let rows = try rows(
            "n(s, k) :- t(s), len(s, k)", facts: #"{"t": [["e\u0301"], ["\ud83d\udc68\u200d\ud83d\udc69"], ["é"]]}"#, table: "n")
        #expect(Set(rows.map { $0[1] }) == [.int(2), .int(3), .int(1)], "\(rows)")
    }

    // MARK: - 3. Integer division rounds down

    @Test func divRoundsDownLikeCongress() throws {
        let facts = #"{"p": [[-1], [-7]]}"#
        #expect(try rows("h(x, z) :- p(x), div(x, 3, z)", facts: facts, table: "h") == [[-7, -3], [-1, -1]])
        #expect(try rows("h(x, z) :- p(x), z = x / 3", facts: facts, table: "h") == [[-7, -3], [-1, -1]])
    }

    static let quotients: [(Int64, Int64, Int64)] = [
        (7, 3, 2), (-7, 3, -3), (7, -3, -3), (-7, -3, 2), (6, -3, -2), (-6, 3, -2), (0, -5, 0),
        (.min, 2, .min / 2), (.min + 1, -1, .max), (.max, -2, -(.max / 2) - 1),
    ]

    @Test(arguments: quotients)
    func integerDivisionIsFloorDivision(_ a: Int64, _ b: Int64, _ quotient: Int64) {
        #expect(BuiltinEvaluation.arithmetic(.divide, .int(a), .int(b)) == .int(quotient))
    }

    @Test func integerDivisionFailsOnlyByZeroOrOverflow() {
        #expect(BuiltinEvaluation.arithmetic(.divide, .int(Int64.min), .int(-1)) == nil)
        #expect(BuiltinEvaluation.arithmetic(.divide, .int(1), .int(0)) == nil)
        #expect(BuiltinEvaluation.arithmetic(.divide, .int(-7), .float(2)) == .float(-3.5))
    }

    /// The definition: q = floor(a / b), so q * b <= a < (q + 1) * b for b > 0 (reversed for b < 0).
    @Test func integerDivisionMatchesTheDefinitionOnRandomIntegers() {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("ValueSemanticsTests.integerDivisionMatchesTheDefinitionOnRandomIntegers seed: \(seed)")
        var random = SeededRandom(seed: seed)
        for _ in 0..<20_000 {
            let a = random.int64(), b = random.int64()
            guard b != 0, !(a == .min && b == -1) else { continue }
            guard case .int(let q)? = BuiltinEvaluation.arithmetic(.divide, .int(a), .int(b)) else {
                Issue.record("seed \(seed): \(a) / \(b) failed")
                continue
            }
            // Exact in 128 bits: remainder a - q * b lies in [0, b) or (b, 0].
            let remainder = Int128(a) - Int128(q) * Int128(b)
            let holds = b > 0 ? (0..<Int128(b)).contains(remainder) : (Int128(b) + 1...0).contains(remainder)
            #expect(holds, "seed \(seed): \(a) / \(b) = \(q)")
        }
    }

    // MARK: - 5. Mixed int and float compare exactly

    @Test func anIntAboveTwoToThe53IsGreaterThanTheFloatBelowIt() throws {
        let rows = try rows("g(x) :- p(x), x > 9007199254740992.0", facts: #"{"p": [[9007199254740993]]}"#, table: "g")
        #expect(rows == [[.int(9_007_199_254_740_993)]])
    }

    @Test func maxOfAnIntAndAFloatReturnsTheLargerExactly() throws {
        let rows = try rows("m(z) :- p(x), max(9007199254740992.0, 9007199254740993, z)", facts: #"{"p": [[1]]}"#, table: "m")
        #expect(rows == [[.int(9_007_199_254_740_993)]])
        #expect(BuiltinEvaluation.call(.max, [.int(9_007_199_254_740_992), .float(9_007_199_254_740_992)]) == .int(9_007_199_254_740_992))
        #expect(BuiltinEvaluation.call(.max, [.float(9_007_199_254_740_992), .int(9_007_199_254_740_992)]) == .float(9_007_199_254_740_992))
    }

    static let mixedOrders: [(Int64, Double, Int)] = [
        (9_007_199_254_740_993, 9_007_199_254_740_992.0, 1), (.max, 9_223_372_036_854_775_808.0, -1),
        (.min, -9_223_372_036_854_775_808.0, 0), (.min + 1, -9_223_372_036_854_775_808.0, 1), (5, 5.5, -1), (-5, -5.5, 1),
        (0, -0.0, 0), (0, 0.0, 0), (.max, .infinity, -1), (.min, -.infinity, 1), (3, 3.0, 0), (-1, -0.5, -1),
    ]

    @Test(arguments: mixedOrders)
    func mixedNumbersOrderExactly(_ int: Int64, _ float: Double, _ order: Int) {
        #expect(Value.numericOrder(.int(int), .float(float)) == order)
        #expect(Value.numericOrder(.float(float), .int(int)) == -order)
        #expect(BuiltinEvaluation.compare(.less, .int(int), .float(float)) == (order < 0))
        #expect(BuiltinEvaluation.compare(.greaterOrEqual, .int(int), .float(float)) == (order >= 0))
        // Output order: an int before an equal float.
        #expect((Value.int(int) < .float(float)) == (order <= 0))
        #expect(!BuiltinEvaluation.compare(.equal, .int(int), .float(float)), "= compares values: 3 and 3.0 differ")
    }

    @Test func nanIsUnorderedAndSortsLast() {
        #expect(Value.numericOrder(.int(1), .float(.nan)) == nil)
        #expect(!BuiltinEvaluation.compare(.less, .int(1), .float(.nan)))
        #expect([Value.float(.nan), .int(2), .float(1.5)].sorted().prefix(2) == [.float(1.5), .int(2)])
    }

    // MARK: - int and float read strings as Python does

    @Test func intAndFloatParseStrings() throws {
        #expect(try rows(#"n(y) :- p(x), int("3", y)"#, facts: #"{"p": [[1]]}"#, table: "n") == [[3]])
        #expect(try rows(#"n(y) :- p(x), float("1.5", y)"#, facts: #"{"p": [[1]]}"#, table: "n") == [[.float(1.5)]])
        #expect(try rows("n(x, y) :- p(x), int(x, y)", facts: #"{"p": [["12"], [" -4 "], ["1.5"], ["x"]]}"#, table: "n")
            == [[" -4 ", -4], ["12", 12]])
    }

    static let integerTexts: [(String, Int64)] = [
        ("3", 3), (" -4\n", -4), ("+7", 7), ("007", 7), ("1_000", 1000), ("\u{661}\u{662}", 12), ("\u{FF13}", 3),
        ("9223372036854775807", .max), ("-9223372036854775808", .min),
    ]

    @Test(arguments: integerTexts)
    func intReadsIntegerStrings(_ text: String, _ value: Int64) {
        #expect(BuiltinEvaluation.call(.int, [.string(text)]) == .int(value))
    }

    @Test(arguments: ["", " ", "1.5", "0x10", "1__0", "_1", "1_", "9223372036854775808", "1e3", "--1", "1 2", "inf", "٣a"])
    func intRefusesOtherStrings(_ text: String) {
        #expect(BuiltinEvaluation.call(.int, [.string(text)]) == nil)
    }

    static let floatTexts: [(String, Double)] = [
        ("1.5", 1.5), (" -2 ", -2), ("1e3", 1000), (".5", 0.5), ("5.", 5), ("1_0.2_5", 10.25), ("-1E-2", -0.01), ("+inf", .infinity),
        ("-Infinity", -.infinity), ("\u{662}.5", 2.5),
    ]

    @Test(arguments: floatTexts)
    func floatReadsNumberStrings(_ text: String, _ value: Double) {
        #expect(BuiltinEvaluation.call(.float, [.string(text)]) == .float(value))
    }

    @Test(arguments: ["", ".", "e5", "0x1p3", "1.5.2", "1_.5", "1e", "1e+", "nan(1)", "infinit", "1,5"])
    func floatRefusesOtherStrings(_ text: String) {
        #expect(BuiltinEvaluation.call(.float, [.string(text)]) == nil)
    }

    @Test func floatReadsNaN() {
        guard case .float(let value)? = BuiltinEvaluation.call(.float, [.string(" NaN ")]) else {
            Issue.record("float(\"NaN\") failed")
            return
        }
        #expect(value.isNaN)
    }

    @Test func anUnreadableConstantStringIsATypeError() {
        Language.expectError(#"h(y) :- p(x), int("x", y)"#, .typeError, line: 1, column: 19)
        Language.expectError(#"h(y) :- p(x), float("1.5.2", y)"#, .typeError, line: 1, column: 21)
    }

    // MARK: - Property: tricky Unicode

    /// Random strings from tricky Unicode load from facts JSON (raw UTF-8 and
    /// `\u` escapes) unchanged, are equal in the engine exactly when their
    /// scalars are, order as Python orders them, and print back unchanged.
    @Test func trickyStringsAreKeptComparedAndOrderedByScalars() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("ValueSemanticsTests.trickyStringsAreKeptComparedAndOrderedByScalars seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let policy = "e(x, y) :- t(x), t(y), x = y\nl(x, y) :- t(x), t(y), x < y\nn(x) :- t(x), not u(x)\nk(x, z) :- t(x), len(x, z)"
        for round in 0..<40 {
            let strings = (0..<12).map { _ in random.trickyString() }
            let banned = (0..<4).map { _ in random.trickyString() } + [strings[0]]
            let escaped = round % 2 == 1
            func literal(_ text: String) -> String { escaped ? jsonEscapedEverywhere(text) : JSON.string(text).text }
            let facts = "{\"t\": [" + strings.map { "[\(literal($0))]" }.joined(separator: ", ") + "], \"u\": ["
                + banned.map { "[\(literal($0))]" }.joined(separator: ", ") + "]}"
            let tables = try evaluate(policy, facts: facts, tables: ["t", "e", "l", "n", "k"])
            func texts(_ table: Int, column: Int = 0) -> [String] {
                tables[table].rows.map { if case .string(let text) = $0[column] { text } else { "not a string: \($0)" } }
            }
            func scalars(_ texts: [String]) -> [[UInt32]] { texts.map { $0.unicodeScalars.map(\.value) }.sorted { $0.lexicographicallyPrecedes($1) } }
            let distinct = Set(strings.map { $0.unicodeScalars.map(\.value) })
            #expect(Set(scalars(texts(0))) == distinct, "seed \(seed)")
            #expect(scalars(texts(0)) == scalars(texts(0)).sorted { $0.lexicographicallyPrecedes($1) }, "seed \(seed)")
            // Stored rows come back in code point order, as Python sorts them.
            #expect(texts(0).map { $0.unicodeScalars.map(\.value) } == scalars(texts(0)), "seed \(seed)")
            #expect(tables[1].rows.count == distinct.count, "seed \(seed): x = y only for the same scalars")
            #expect(zip(texts(1), texts(1, column: 1)).allSatisfy(sameScalars), "seed \(seed)")
            #expect(zip(texts(2), texts(2, column: 1)).allSatisfy(precedesByCodePoints), "seed \(seed)")
            #expect(tables[2].rows.count == distinct.count * (distinct.count - 1) / 2, "seed \(seed)")
            let bannedScalars = Set(banned.map { $0.unicodeScalars.map(\.value) })
            #expect(Set(scalars(texts(3))) == distinct.subtracting(bannedScalars), "seed \(seed)")
            #expect(tables[4].rows.allSatisfy { row in
                if case .string(let text) = row[0], case .int(let count) = row[1] { return text.unicodeScalars.count == count }
                return false
            }, "seed \(seed)")
            // Output: the JSON printed parses back to the same scalars.
            let printed = try JSON.parse(OfflineEvaluation.json([tables[0]]))
            let printedTexts = printed["tables"]?["a:t"]?.arrayValue?.compactMap { $0.arrayValue?.first?.stringValue } ?? []
            #expect(printedTexts.map { $0.unicodeScalars.map(\.value) } == scalars(texts(0)), "seed \(seed)")
        }
    }

    /// Policy text: a string literal keeps its scalars, and a fact in text
    /// and the same value from JSON are one value.
    @Test func trickyStringsInPolicyTextAreTheJSONValues() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("ValueSemanticsTests.trickyStringsInPolicyTextAreTheJSONValues seed: \(seed)")
        var random = SeededRandom(seed: seed)
        for _ in 0..<40 {
            let strings = (0..<8).map { _ in random.trickyString() }
            let policy = strings.map { "s(\(Value.string($0)))" }.joined(separator: "\n") + "\nboth(x) :- s(x), t(x)"
            let facts = "{\"t\": [" + strings.map { "[\(JSON.string($0).text)]" }.joined(separator: ", ") + "]}"
            let both = try rows(policy, facts: facts, table: "both")
            #expect(Set(both.map { "\($0[0])".unicodeScalars.map(\.value) }) == Set(strings.map { Value.string($0).description.unicodeScalars.map(\.value) }), "seed \(seed)")
        }
    }

    /// Policy text: integers over the whole int64 range, edges included, read
    /// as integers and print back the same (facts, wire and log have theirs).
    @Test func randomIntegersSurvivePolicyText() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("ValueSemanticsTests.randomIntegersSurvivePolicyText seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let integers = (0..<300).map { _ in random.int64() } + SeededRandom.edgeIntegers
        let policy = integers.map { "p(\($0))" }.joined(separator: "\n") + "\nq(x) :- p(x), x = x + 0"
        let rows = try rows(policy, table: "q")
        #expect(Set(rows) == Set(integers.map { [Value.int($0)] }), "seed \(seed)")
        let printed = try JSON.parse(OfflineEvaluation.json([(TableID("a:q")!, rows)]))
        #expect(Set(printed["tables"]?["a:q"]?.arrayValue ?? []) == Set(integers.map { JSON.array([.int($0)]) }), "seed \(seed)")
    }
}
