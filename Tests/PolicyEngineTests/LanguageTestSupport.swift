import PolicyEngine
import Testing

/// Shared helpers for the parser and checker tests.
enum Language {
    static func table(_ qualified: String) -> TableID {
        TableID(qualified)!
    }

    /// Parses `text` as policy `policy`, failing the test on an error.
    static func parse(_ text: String, policy: String = "alice") throws -> ParsedPolicy {
        try PolicyParser.parse(text, policy: policy)
    }

    /// Parses and checks several policies as one program.
    static func check(
        _ policies: [String: String], schemas: [TableID: [String]] = [:], factArities: [TableID: Int] = [:]
    ) throws -> CheckedProgram {
        var rules: [RuleSyntax] = []
        var facts: [Fact] = []
        for (policy, text) in policies.sorted(by: { $0.key < $1.key }) {
            let parsed = try PolicyParser.parse(text, policy: policy)
            rules += parsed.rules
            facts += parsed.facts
        }
        let checker = ProgramChecker(policies: Set(policies.keys), schemas: schemas, factArities: factArities)
        return try checker.check(rules, facts: facts)
    }

    static func check(_ text: String, schemas: [TableID: [String]] = [:], factArities: [TableID: Int] = [:]) throws
        -> CheckedProgram
    {
        try check(["alice": text], schemas: schemas, factArities: factArities)
    }

    /// The error that parsing or checking `policies` throws, or `nil` if there is none.
    static func error(
        _ policies: [String: String], schemas: [TableID: [String]] = [:], factArities: [TableID: Int] = [:]
    ) -> PolicyError? {
        do {
            _ = try check(policies, schemas: schemas, factArities: factArities)
            return nil
        } catch let error as PolicyError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    static func error(_ text: String, schemas: [TableID: [String]] = [:], factArities: [TableID: Int] = [:])
        -> PolicyError?
    {
        error(["alice": text], schemas: schemas, factArities: factArities)
    }

    /// Checks that `text` fails with `code` at `line`:`column` (in `policy`), with a non-empty message.
    static func expectError(
        _ text: String, _ code: PolicyError.Code, line: Int, column: Int, policy: String = "alice",
        schemas: [TableID: [String]] = [:], factArities: [TableID: Int] = [:],
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        expectError(
            [policy: text], code, line: line, column: column, policy: policy, schemas: schemas,
            factArities: factArities, sourceLocation: sourceLocation)
    }

    static func expectError(
        _ policies: [String: String], _ code: PolicyError.Code, line: Int, column: Int, policy: String,
        schemas: [TableID: [String]] = [:], factArities: [TableID: Int] = [:],
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        guard let error = error(policies, schemas: schemas, factArities: factArities) else {
            Issue.record("expected \(code) at \(line):\(column), but the program was accepted", sourceLocation: sourceLocation)
            return
        }
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.location?.policy == policy, "\(error)", sourceLocation: sourceLocation)
        #expect(error.location?.line == line, "\(error)", sourceLocation: sourceLocation)
        #expect(error.location?.column == column, "\(error)", sourceLocation: sourceLocation)
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
    }
}
