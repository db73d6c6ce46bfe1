/// `policybus check`: parses and checks policies without loading them, and
/// finds the warnings of the ones without errors.
public enum PolicyCheck {
    /// Checks the policies as one program (they may read each other's tables).
    ///
    /// Each policy is first parsed and checked alone, so that every policy's
    /// errors are reported; the whole program is checked together only when
    /// each policy passes alone (that finds what spans policies, such as a
    /// table used with two widths).
    ///
    /// - Parameters:
    ///   - policies: Each policy's name and text.
    ///   - schemas: Declared columns of data source tables.
    /// - Returns: Errors and warnings, in the order of `policies`, then by line and column.
    public static func check(_ policies: [OfflineEvaluation.PolicySource], schemas: [TableID: [String]] = [:]) -> [Diagnostic] {
        let names = Set(policies.map(\.name))
        let checker = ProgramChecker(policies: names, schemas: schemas)
        var diagnostics: [Diagnostic] = []
        var parsed: [(name: String, policy: ParsedPolicy)] = []
        for source in policies {
            do throws(PolicyError) {
                let policy = try PolicyParser.parse(source.text, policy: source.name)
                _ = try checker.check(policy.rules, facts: policy.facts)
                parsed.append((source.name, policy))
            } catch {
                diagnostics.append(Diagnostic(error))
            }
        }
        if diagnostics.isEmpty {
            do throws(PolicyError) {
                _ = try checker.check(parsed.flatMap(\.policy.rules), facts: parsed.flatMap(\.policy.facts))
            } catch {
                diagnostics.append(Diagnostic(error))
            }
        }
        for (name, policy) in parsed { diagnostics += PolicyLint.warnings(policy, name: name) }
        let order = Dictionary(policies.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        func key(_ diagnostic: Diagnostic) -> (Int, Int, Int) {
            guard let location = diagnostic.location else { return (Int.max, 0, 0) }
            return (order[location.policy] ?? Int.max, location.line, location.column)
        }
        return diagnostics.sorted { key($0) < key($1) }
    }
}
