/// Policies: created and deleted while the engine runs, and their rules listed.
extension Engine {
    /// A rule as `rules list` shows it.
    public struct RuleEntry: Hashable, Sendable {
        /// Stable over restarts and engines: a hash of the policy and the canonical text.
        public var id: String
        /// The canonical text.
        public var text: String
        /// The rule's line in the text it was loaded from (a policy file, or a `rules insert`'s text).
        public var line: Int
    }

    /// Creates an empty policy. Creating one that exists does nothing.
    /// - Throws: `syntax-error` when `name` is not an identifier.
    public func createPolicy(_ name: String) throws(PolicyError) {
        guard TableID.isIdentifier(name) else {
            throw PolicyError(.syntaxError, "'\(name)' is not a valid policy name: use letters, digits, '_', '-' or '.', not starting with a digit")
        }
        policySet.insert(name)
    }

    /// Deletes a policy with all its rules and the facts of its tables, as one
    /// transaction: the triggers of its tables get their deltas to empty.
    /// Its tables are forgotten unless another policy's rules read them.
    /// `beforeCommit` is called once the deletion is known to be valid,
    /// before anything changes (see `apply(_:beforeCommit:)`).
    /// - Throws: `unknown-policy` when there is no such policy, else what `beforeCommit` throws.
    public func deletePolicy(_ name: String, beforeCommit: () throws -> Void = {}) throws {
        guard policySet.contains(name) else { throw PolicyError(.unknownPolicy, "there is no policy '\(name)'") }
        // Gone before the check below, so that queries and later rules no longer see it.
        policySet.remove(name)
        var hookError: (any Error)?
        do {
            var change = LoweredTransaction()
            change.removedRules = rulesByKey.keys.filter { $0.policy == name }
            for table in tableStates.keys where table.service == name {
                change.rowOperations.append(.replace(table, []))
            }
            // Queries are checked against the front end's program: it must lose the policy too.
            let syntax = frontEnd.syntax.filter { $0.key.policy != name }
            let keys = syntax.keys.sorted()
            var checker = makeChecker()
            checker.factArities = checker.factArities.filter { $0.key.service != name }
            checker.schemas = checker.schemas.filter { $0.key.service != name }
            change.frontEnd = FrontEndState(syntax: syntax, program: try checker.check(keys.map { syntax[$0]! }, facts: []))
            try applyLowered(change) { () throws(PolicyError) in
                do { try beforeCommit() } catch {
                    hookError = error
                    throw PolicyError(PolicyError.Code(rawValue: "commit-hook-failed"), "\(error)")
                }
            }
        } catch {
            policySet.insert(name)
            throw hookError ?? error
        }
        forgetTables(of: name)
    }

    /// Drops the empty tables of a deleted policy that no rule refers to, so
    /// that a policy of the same name may give them other columns.
    private func forgetTables(of policy: String) {
        let used = Set(rulesByKey.values.flatMap { [$0.head.id] + $0.literals.compactMap { $0.table?.id } })
        let unused = tableStates.keys.filter { $0.service == policy && !used.contains($0) }
        guard !unused.isEmpty else { return }
        for table in unused {
            tableStates[table] = nil
            columnNames[table] = nil
        }
        graphIsStale = true
        // Rebuilds the graph now (removing tables cannot make a cycle), so
        // that nothing reads the forgotten tables' states through it.
        _ = try? applyLowered(LoweredTransaction())
    }

    /// The policies, sorted.
    public var policies: [String] { policySet.sorted() }

    /// The canonical texts of a policy's rules, sorted.
    /// - Throws: `unknown-policy`.
    public func rules(in policy: String) throws(PolicyError) -> [String] {
        try ruleEntries(in: policy).map(\.text)
    }

    /// A policy's rules with their ids and lines, sorted by text.
    /// - Throws: `unknown-policy`.
    public func ruleEntries(in policy: String) throws(PolicyError) -> [RuleEntry] {
        guard policySet.contains(policy) else { throw PolicyError(.unknownPolicy, "there is no policy '\(policy)'") }
        return rulesByKey.filter { $0.key.policy == policy }.sorted { $0.key < $1.key }.map { key, rule in
            RuleEntry(id: Self.ruleID(key), text: key.text, line: rule.rule.location.line)
        }
    }

    /// The rules of other policies that read `policy`'s tables, sorted: a
    /// policy they read cannot go without changing what they mean.
    public func readers(of policy: String) -> [(policy: String, text: String)] {
        rulesByKey.filter { key, rule in
            key.policy != policy && rule.literals.contains { $0.table?.id.service == policy }
        }.keys.sorted().map { ($0.policy, $0.text) }
    }

    /// 16 hex digits of FNV-1a over the policy and the text's UTF-8 (its
    /// Unicode scalars, as rules compare): the same on every engine and start.
    static func ruleID(_ key: RuleKey) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.policy.utf8 + [0] + key.text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
