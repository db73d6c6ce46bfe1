public import PolicyEngine

/// One change the engine accepted through its control API.
///
/// Replaying a log's records in order, on an engine that has loaded its
/// command-line policy files, rebuilds the state the engine had.
public enum LogRecord: Hashable, Sendable {
    /// A new, empty policy (`policy-create`). Creating one that exists does nothing.
    case createPolicy(name: String)
    /// A policy removed with all its rules and the facts of its tables
    /// (`policy-delete`), whether they came from the log or the command line.
    /// Deleting one that does not exist does nothing.
    case deletePolicy(name: String)
    /// Rules added to a policy, as the policy text that was accepted.
    case insertRules(policy: String, text: String)
    /// Rules removed from a policy, as the text that named them.
    case deleteRules(policy: String, text: String)
    /// Rows added to a table, e.g. `alice:owner`.
    case insertFacts(table: String, rows: [[Value]])
    /// Rows removed from a table.
    case deleteFacts(table: String, rows: [[Value]])
}
