import PolicyBus
import PolicyEngine

extension PolicyError.Code {
    /// `--explain` was given a query that no row matches.
    static let noMatch = PolicyError.Code(rawValue: "no-match")
}

/// Explanations as JSON: `{"explanations": [{"table", "row", "complete", "derivations": [node, ...]}]}`,
/// each node `{"table", "row", "reason", "rule"?, "body"}` with `reason` one of
/// `fact`, `rule`, `absent`, `bound`, and null for the "any value" columns of an absent pattern.
enum ExplainOutput {
    static func json(_ explanations: [Explanation]) -> JSON {
        .object([
            "explanations": .array(
                explanations.map { explanation in
                    .object([
                        "table": .string(explanation.table.description),
                        "row": .array(explanation.row.map(JSON.init)),
                        "complete": .bool(explanation.complete),
                        "derivations": .array(explanation.derivations.map(json)),
                    ])
                })
        ])
    }

    static func json(_ derivation: Derivation) -> JSON {
        var members: [String: JSON] = [
            "table": .string(derivation.table.description),
            "row": .array(derivation.row.map { $0.map(JSON.init) ?? .null }),
            "body": .array(derivation.body.map(json)),
        ]
        switch derivation.reason {
        case .fact: members["reason"] = .string("fact")
        case .absent: members["reason"] = .string("absent")
        case .bound: members["reason"] = .string("bound")
        case .rule(let policy, let text, let line):
            members["reason"] = .string("rule")
            members["rule"] = .object(["policy": .string(policy), "text": .string(text), "line": .int(Int64(line))])
        }
        return .object(members)
    }

    static func text(_ explanations: [Explanation]) -> String {
        explanations.map(\.text).joined(separator: "\n")
    }
}
