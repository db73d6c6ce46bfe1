import PolicyBus
import PolicyEngine

extension PolicyError.Code {
    /// `explain` was given a query that no row matches.
    static let noMatch = PolicyError.Code(rawValue: "no-match")
}

/// How `eval --explain` and `explain` print explanations.
enum ExplainOutput {
    /// `{"explanations": [...]}` with `--json`, else each row's indented tree, a blank line between rows.
    /// - Throws: `no-match` when there are none.
    static func print(_ explanations: [Explanation], query: String, json: Bool) throws(PolicyError) {
        guard !explanations.isEmpty else { throw PolicyError(.noMatch, "no row matches '\(query)'") }
        if json {
            Swift.print(JSON.object(["explanations": .array(explanations.map(\.json))]).text)
        } else {
            Swift.print(explanations.map(\.text).joined(separator: "\n"), terminator: "")
        }
    }
}
