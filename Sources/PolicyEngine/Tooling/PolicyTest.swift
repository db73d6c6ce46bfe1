/// One test of `policybus test`: policies, facts, expected table contents,
/// and optional steps of changes, each with its own expectations.
///
/// Table names are as in a facts file: `service:name`, or a bare name for the
/// first policy's table.
public struct PolicyTest: Sendable {
    /// What a table should hold: exactly `exact` (when given), at least the
    /// rows of `contains`, and none of the rows of `excludes`.
    public struct Expectation: Sendable {
        public var table: String
        public var exact: [[Value]]?
        public var contains: [[Value]]
        public var excludes: [[Value]]

        public init(table: String, exact: [[Value]]? = nil, contains: [[Value]] = [], excludes: [[Value]] = []) {
            self.table = table
            self.exact = exact
            self.contains = contains
            self.excludes = excludes
        }
    }

    /// A change applied as one transaction (deletions, then insertions), then checked.
    public struct Step: Sendable {
        public var insert: [(table: String, rows: [[Value]])]
        public var delete: [(table: String, rows: [[Value]])]
        public var expectations: [Expectation]

        public init(
            insert: [(table: String, rows: [[Value]])] = [], delete: [(table: String, rows: [[Value]])] = [],
            expectations: [Expectation] = []
        ) {
            self.insert = insert
            self.delete = delete
            self.expectations = expectations
        }
    }

    public var name: String
    public var policies: [OfflineEvaluation.PolicySource]
    public var schemas: [TableID: [String]]
    public var facts: [(table: String, rows: [[Value]])]
    /// Checked after the facts are loaded, before any step.
    public var expectations: [Expectation]
    public var steps: [Step]

    public init(
        name: String, policies: [OfflineEvaluation.PolicySource], schemas: [TableID: [String]] = [:],
        facts: [(table: String, rows: [[Value]])] = [], expectations: [Expectation] = [], steps: [Step] = []
    ) {
        self.name = name
        self.policies = policies
        self.schemas = schemas
        self.facts = facts
        self.expectations = expectations
        self.steps = steps
    }
}

/// How a test went.
public struct PolicyTestResult: Sendable {
    /// A table whose contents differ from the expectation.
    public struct Failure: Sendable {
        /// 0 for the expectations before any step, then the step's number from 1.
        public var step: Int
        public var table: TableID
        /// Rows the table holds that it should not.
        public var added: [[Value]]
        /// Rows the table should hold and does not.
        public var missing: [[Value]]
    }

    public var name: String
    public var failures: [Failure] = []
    /// An error that stopped the test (a policy error, an unknown table).
    public var error: PolicyError?

    public var passed: Bool { failures.isEmpty && error == nil }
}
