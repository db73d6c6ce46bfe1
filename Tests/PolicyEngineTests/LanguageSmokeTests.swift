import PolicyEngine
import Testing

@Suite struct LanguageSmokeTests {
    @Test func parsesAndChecksTheSpecRule() throws {
        let parsed = try PolicyParser.parse(
            """
            error(vm) :- nova:servers(vm, host), not allowed(host).
            allowed("h1")
            """, policy: "alice")
        #expect(parsed.rules.count == 1)
        #expect(parsed.facts.count == 1)
        #expect(parsed.rules[0].text == "error(vm) :- nova:servers(vm, host), not allowed(host)")
        let program = try ProgramChecker(policies: ["alice"]).check(parsed.rules, facts: parsed.facts)
        let error = TableID(service: "alice", name: "error")
        let allowed = TableID(service: "alice", name: "allowed")
        #expect(program.strata[error] == 1)
        #expect(program.strata[allowed] == 0)
        #expect(program.arities[error] == 1)
        print(program.rules[0])
    }
}
