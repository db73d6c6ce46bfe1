import PolicyEngine

/// What a control request asks for: every op of `docs/PROTOCOL.md` with its
/// fields, decoded and checked against the node's limits once, at the edge.
/// Everything behind the edge works on this value, never on the JSON.
///
/// A new op is one case here (with its `init` and `fields` arms) and one
/// handler: in `Node.perform` when every kind of node does it, else in the
/// behaviours' `handle`.
public enum ControlCommand: Hashable, Sendable {
    case hello
    case subscribe(tables: [TableID])
    case unsubscribe(tables: [TableID])
    case renew
    case status
    case tables
    /// A table name or an atom; engines and data sources read it differently.
    case query(String)
    case rules(Rules)
    case facts(Facts)
    /// Why the rows matching the query hold (engines): one derivation each, or all up to a limit.
    case explain(query: String, all: Bool)

    /// `rules`: list a policy's rules, or insert or delete policy text.
    public enum Rules: Hashable, Sendable {
        case list(policy: String)
        case insert(policy: String, text: String)
        case delete(policy: String, text: String)
    }

    /// `facts`: rows to insert or delete, or a table's new contents.
    public struct Facts: Hashable, Sendable {
        public enum Action: String, Hashable, Sendable {
            case insert, delete, replace
        }

        public var action: Action
        public var table: TableID
        public var rows: [Row]

        public init(_ action: Action, table: TableID, rows: [Row]) {
            self.action = action
            self.table = table
            self.rows = rows
        }
    }

    /// Decodes and validates the op and its fields.
    /// - Throws: `unknown-op`, `bad-request`, `bad-table-name`,
    ///   `too-many-subscriptions` (more tables than one client may hold),
    ///   `too-many-rows`.
    public init(_ request: ControlRequest, limits: BusLimits) throws(BusError) {
        switch request.op {
        case "hello": self = .hello
        case "subscribe": self = .subscribe(tables: try request.tables("tables", limits: limits))
        case "unsubscribe": self = .unsubscribe(tables: try request.tables("tables", limits: limits))
        case "renew": self = .renew
        case "status": self = .status
        case "tables": self = .tables
        case "query": self = .query(try request.string("query"))
        case "rules": self = .rules(try Rules(request))
        case "facts": self = .facts(try Facts(request, limits: limits))
        case "explain": self = .explain(query: try request.string("query"), all: try request.optionalBool("all") ?? false)
        default: throw BusError(.unknownOp, "unknown op '\(request.op)'")
        }
    }

    /// The op's name on the wire.
    public var op: String {
        switch self {
        case .hello: "hello"
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .renew: "renew"
        case .status: "status"
        case .tables: "tables"
        case .query: "query"
        case .rules: "rules"
        case .facts: "facts"
        case .explain: "explain"
        }
    }

    /// The op's fields on the wire (without `op`, `id` and `client`): what
    /// `init` decodes back into the same command.
    public var fields: [String: JSON] {
        switch self {
        case .hello, .renew, .status, .tables: [:]
        case .subscribe(let tables), .unsubscribe(let tables): ["tables": .array(tables.map { .string($0.description) })]
        case .query(let text): ["query": .string(text)]
        case .rules(.list(let policy)): ["action": .string("list"), "policy": .string(policy)]
        case .rules(.insert(let policy, let text)): ["action": .string("insert"), "policy": .string(policy), "rule": .string(text)]
        case .rules(.delete(let policy, let text)): ["action": .string("delete"), "policy": .string(policy), "rule": .string(text)]
        case .facts(let facts):
            ["action": .string(facts.action.rawValue), "table": .string(facts.table.description), "rows": JSON(rows: facts.rows)]
        case .explain(let query, let all): ["query": .string(query), "all": .bool(all)]
        }
    }
}

extension ControlCommand.Rules {
    /// Fields in the order the node has always checked them: `action`, `policy`, then `rule`.
    init(_ request: ControlRequest) throws(BusError) {
        let action = try request.string("action")
        let policy = try request.string("policy")
        switch action {
        case "list": self = .list(policy: policy)
        case "insert": self = .insert(policy: policy, text: try request.string("rule"))
        case "delete": self = .delete(policy: policy, text: try request.string("rule"))
        default: throw BusError(.badRequest, "\"action\" must be list, insert or delete")
        }
    }
}

extension ControlCommand.Facts {
    /// Fields in the order the node has always checked them: `action` (a
    /// string), `table`, `rows`, then the action's value.
    init(_ request: ControlRequest, limits: BusLimits) throws(BusError) {
        let action = try request.string("action")
        table = try request.table("table", limits: limits)
        rows = try request.rows("rows", limits: limits)
        guard let known = Action(rawValue: action) else {
            throw BusError(.badRequest, "\"action\" must be insert, delete or replace")
        }
        self.action = known
    }
}
