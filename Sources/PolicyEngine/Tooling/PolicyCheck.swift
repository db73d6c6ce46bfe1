/// `policybus check`: parses and checks policies without loading them, and
/// finds the warnings of the ones without errors.
public enum PolicyCheck {
    /// Checks the policies as one program (they may read each other's tables).
    ///
    /// Each policy is first parsed and checked alone, so that every policy's
    /// errors are reported (all of them, up to `PolicyError.reportLimit` per
    /// policy, in line order); the whole program is checked together only when
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
            let result = errors(of: source, checker: checker)
            if let policy = result.policy { parsed.append((source.name, policy)) } else { diagnostics += result.found.map(Diagnostic.init) }
        }
        if diagnostics.isEmpty {
            do throws(PolicyError) {
                _ = try checker.check(parsed.flatMap(\.policy.rules), facts: parsed.flatMap(\.policy.facts))
            } catch {
                diagnostics += error.all.map(Diagnostic.init)
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

    /// Every error of one policy alone (syntax errors and what the statements
    /// that parse break), up to `PolicyError.reportLimit`; the parsed policy when there are none.
    private static func errors(
        of source: OfflineEvaluation.PolicySource, checker: ProgramChecker
    ) -> (found: [PolicyError], policy: ParsedPolicy?) {
        let policy: ParsedPolicy
        var errors: [PolicyError]
        do throws(PolicyError) {
            (policy, errors) = try PolicyParser.parseRecovering(source.text, policy: source.name)
        } catch {
            return (error.all, nil)
        }
        do throws(PolicyError) {
            _ = try checker.check(policy.rules, facts: policy.facts)
        } catch {
            errors += error.all
        }
        guard let first = PolicyError.reporting(errors) else { return ([], policy) }
        return (first.all, nil)
    }
}
