import PolicyEngine
import Testing

/// The warnings of `policybus check`: each one where it is certain, none elsewhere.
@Suite struct PolicyLintTests {
    private func codes(_ text: String) throws -> [String] {
        PolicyCheck.check([.init(name: "alice", text: text)]).map(\.code)
    }

    @Test(arguments: [
        ("h(x) :- servers(x)", PolicyWarning.undefinedTable),
        ("h(x) :- p(x), not banned(x)\np(1)", PolicyWarning.undefinedTable),
        ("h(x) :- p(x, y)\np(1, 2)", PolicyWarning.singleUseVariable),
        ("h(x) :- p(x), \"a\" = \"b\"\np(1)", PolicyWarning.ruleNeverFires),
        ("h(x) :- p(x), 1 = 1.0\np(1)", PolicyWarning.ruleNeverFires),
        ("h(x) :- p(x), 2 < 1\np(1)", PolicyWarning.ruleNeverFires),
        ("h(x) :- p(x), 1 != 1\np(1)", PolicyWarning.ruleNeverFires),
    ])
    func documentedExamplesWarn(_ text: String, _ code: String) throws {
        #expect(try codes(text) == [code])
    }

    @Test(arguments: [
        "h(x) :- p(x), q(x)\np(1)\nq(x) :- p(x)",
        "h(x, y) :- nova:servers(x, _), plus(1, 2, y), _spare = 3, 1 < 2",
        "h(x) :- p(x), \"a\" < \"b\"\np(1)",  // string order is the engine's business
        "h(x) :- p(x), 1 < 2.5\np(1)",
        "h(x) :- alice:p(x)\np(1)",
        "plus(1, 2, 3)\nh(z) :- p(x, y), plus(x, y, z)\np(1, 2)",  // the table plus, defined here
    ])
    func cleanPoliciesDoNotWarn(_ text: String) throws {
        #expect(try codes(text) == [])
    }

    @Test func aPolicyWithErrorsGetsOnlyItsErrors() throws {
        // y is unsafe (an error) and used once: the error alone is reported.
        let diagnostics = PolicyCheck.check([.init(name: "alice", text: "h(y) :- p(x), missing(x)")])
        #expect(diagnostics.map(\.code) == ["unsafe-variable"])
    }
}
