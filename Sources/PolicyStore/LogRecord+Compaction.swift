import PolicyEngine

extension LogRecord {
    /// A shorter list of records that rebuilds the same state as `records`.
    ///
    /// First one `deletePolicy` per deleted policy (it also removed what the
    /// command line had loaded into it), then the policies created after
    /// their last deletion, in the order they were created, then each
    /// policy's surviving rule records in their original order, then one
    /// `insertFacts` per table with the rows still present. A deletion drops
    /// every earlier record of the policy and its tables. Facts follow set
    /// semantics: a deleted row is gone, whatever inserted it. Only a
    /// `createPolicy` record makes a `createPolicy`: a policy that only has
    /// rule records came from the command line.
    ///
    /// Rule text is matched exactly, by Unicode scalars: a `deleteRules` cancels
    /// an earlier `insertRules` with the same policy and text. When a delete matches no
    /// earlier insert (the engine matched it some other way), that policy's rule
    /// records since its last deletion are all kept, in order, which is always
    /// correct. An engine that knows its canonical rules can instead pass them to
    /// ``DurableLog/rewrite(_:)`` itself.
    ///
    /// - Parameter records: records in log order.
    /// - Returns: the compacted records.
    public static func compacted(_ records: [LogRecord]) -> [LogRecord] {
        var deleted: [String] = []
        var created: [String] = []
        var rulePolicies: [String] = []
        var rulesByPolicy: [String: [LogRecord]] = [:]
        var uncompactable: Set<String> = []
        /// Where each deleted policy's records start counting again.
        var since: [String: Int] = [:]
        var tables: [String] = []
        var rowsByTable: [String: OrderedRows] = [:]

        for (index, record) in records.enumerated() {
            switch record {
            case .createPolicy(let name):
                if !created.contains(name) { created.append(name) }
            case .deletePolicy(let name):
                deleted.removeAll { $0 == name }
                deleted.append(name)
                created.removeAll { $0 == name }
                rulePolicies.removeAll { $0 == name }
                rulesByPolicy[name] = nil
                uncompactable.remove(name)
                since[name] = index + 1
                for table in tables where TableID(table)?.service == name { rowsByTable[table] = nil }
                tables.removeAll { TableID($0)?.service == name }
            case .insertRules(let policy, _):
                if rulesByPolicy[policy] == nil { rulePolicies.append(policy) }
                rulesByPolicy[policy, default: []].append(record)
            case .deleteRules(let policy, let text):
                if rulesByPolicy[policy] == nil { rulePolicies.append(policy) }
                if uncompactable.contains(policy) {
                    rulesByPolicy[policy, default: []].append(record)
                } else if let match = rulesByPolicy[policy]?.lastIndex(where: { $0.inserts(text, into: policy) }) {
                    rulesByPolicy[policy]?.remove(at: match)
                } else {
                    uncompactable.insert(policy)
                    rulesByPolicy[policy] = records[(since[policy] ?? 0)...index].filter { $0.isRuleRecord(of: policy) }
                }
            case .insertFacts(let table, let rows):
                if rowsByTable[table] == nil { tables.append(table) }
                rowsByTable[table, default: OrderedRows()].insert(rows)
            case .deleteFacts(let table, let rows):
                rowsByTable[table]?.remove(rows)
            }
        }

        var result = deleted.map { LogRecord.deletePolicy(name: $0) } + created.map { LogRecord.createPolicy(name: $0) }
        for policy in rulePolicies {
            result += rulesByPolicy[policy] ?? []
        }
        for table in tables {
            let rows = rowsByTable[table]?.rows ?? []
            if !rows.isEmpty { result.append(.insertFacts(table: table, rows: rows)) }
        }
        return result
    }

    /// Whether this inserts exactly `text` (the same Unicode scalars: rules
    /// whose strings are only canonically equivalent are different rules).
    private func inserts(_ text: String, into policy: String) -> Bool {
        guard case .insertRules(policy, let inserted) = self else { return false }
        return inserted.hasSameScalars(as: text)
    }

    private func isRuleRecord(of policy: String) -> Bool {
        switch self {
        case .insertRules(let owner, _), .deleteRules(let owner, _): return owner == policy
        default: return false
        }
    }
}

/// A set of rows that remembers the order rows were first inserted in.
private struct OrderedRows {
    private var order: [[Value]] = []
    private var seen: Set<[Value]> = []
    private var present: Set<[Value]> = []

    mutating func insert(_ rows: [[Value]]) {
        for row in rows {
            present.insert(row)
            if seen.insert(row).inserted { order.append(row) }
        }
    }

    mutating func remove(_ rows: [[Value]]) {
        for row in rows { present.remove(row) }
    }

    var rows: [[Value]] { order.filter { present.contains($0) } }
}
