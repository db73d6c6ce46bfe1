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
    /// With `since`, one table, which the client holds at that epoch and
    /// seq: the missed deltas will do if the node still has them.
    case subscribe(tables: [TableID], since: Since? = nil)
    case unsubscribe(tables: [TableID])
    case renew
    /// The rows of a chunked snapshot (a `subscribe` reply's `chunked`)
    /// from row `offset`, at most one chunk of them.
    case snapshotChunk(snapshot: String, offset: Int)
    /// A page of the node's clients, published tables and triggers.
    case status(Page)
    /// A page of the node's tables.
    case tables(Page)
    /// A table name or an atom, and a page of the matching rows; engines and
    /// data sources read the text differently.
    case query(String, Page)
    case rules(Rules)
    case facts(Facts)
    /// Why the rows matching the query hold (engines): one derivation each, or all up to a limit.
    case explain(query: String, all: Bool)
    /// A new policy (engines), empty or with its first rules and facts in
    /// the same transaction; durable like rules.
    case policyCreate(name: String, rules: String?)
    /// A policy gone with its rules and facts, as one transaction (engines).
    case policyDelete(name: String)
    /// The engine's policies with their rule counts.
    case policyList
    /// What `changes`, applied as one transaction, would do to each of
    /// `tables` (engines); the engine is left exactly as it was.
    case simulate(changes: [Change], tables: [TableID])

    /// One change of a `simulate`: a rule insert or delete, or a facts
    /// change, with the fields (and limits) of those ops.
    public enum Change: Hashable, Sendable {
        case rules(Rules)
        case facts(Facts)
    }

    /// `rules`: list a policy's rules, or insert or delete policy text.
    public enum Rules: Hashable, Sendable {
        case list(policy: String)
        case insert(policy: String, text: String)
        case delete(policy: String, text: String)
    }

    /// Which part of a long list a reply holds: `offset` items skipped, then
    /// at most `limit` (nil: the op's default, which is all but for `status`).
    /// With the reply size limit, the way to read any list whole.
    public struct Page: Hashable, Sendable {
        public var offset: Int
        public var limit: Int?

        public init(offset: Int = 0, limit: Int? = nil) {
            self.offset = offset
            self.limit = limit
        }

        /// The first page, of the op's default size.
        public static let first = Page()
        /// How many clients `status` lists when the request gives no `limit`.
        public static let statusLimit = 100

        /// The page's part of `items` (sorted by the caller), and how many
        /// items come after it.
        func slice<Items: Collection>(_ items: Items, defaultLimit: Int? = nil) -> (items: Items.SubSequence, more: Int) {
            let start = items.index(items.startIndex, offsetBy: offset, limitedBy: items.endIndex) ?? items.endIndex
            let count = limit ?? defaultLimit ?? Int.max
            let end = items.index(start, offsetBy: count, limitedBy: items.endIndex) ?? items.endIndex
            return (items[start..<end], items.distance(from: end, to: items.endIndex))
        }

        /// `offset` and `limit`, each only when given.
        var fields: [String: JSON] {
            var fields: [String: JSON] = [:]
            if offset != 0 { fields["offset"] = .int(Int64(offset)) }
            if let limit { fields["limit"] = .int(Int64(limit)) }
            return fields
        }
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

    /// Decodes and validates the op and its fields, each against its limit
    /// (`docs/PROTOCOL.md` section 9), so that no field of any size gets
    /// further than here.
    /// (The `client` id was checked by `ControlRequest(frame:limits:)`.)
    /// - Throws: `unknown-op`, `bad-request`, `bad-table-name`, `bad-policy-name`,
    ///   `too-many-subscriptions` (more tables than one client may hold),
    ///   `too-many-rows`, `too-large` (a policy name, rule or query text, or
    ///   the columns of a row or pattern).
    public init(_ request: ControlRequest, limits: BusLimits) throws(BusError) {
        var pauses = PausePoints(nil)
        try self.init(request, limits: limits, pausing: &pauses)
    }

    /// As `init(_:limits:)`, with a pause point at each of a `simulate`'s changes.
    init(_ request: ControlRequest, limits: BusLimits, pausing pauses: inout PausePoints) throws(BusError) {
        switch request.op {
        case "hello": self = .hello
        case "subscribe":
            let tables = try request.tables("tables", limits: limits)
            let since = try Since(request)
            if since != nil, tables.count != 1 { throw BusError(.badRequest, "\"since\" goes with exactly one table; got \(tables.count)") }
            self = .subscribe(tables: tables, since: since)
        case "unsubscribe": self = .unsubscribe(tables: try request.tables("tables", limits: limits))
        case "renew": self = .renew
        case "snapshot-chunk":
            let snapshot = try request.string("snapshot")
            guard snapshot.utf8.count <= 64 else { throw BusError(.badRequest, "\"snapshot\" is a snapshot id of at most 64 bytes") }
            guard let offset = try request.optionalCount("offset") else { throw BusError(.badRequest, "\"offset\" must be a non-negative integer") }
            self = .snapshotChunk(snapshot: snapshot, offset: offset)
        case "status": self = .status(try Page(request))
        case "tables": self = .tables(try Page(request))
        case "query": self = .query(try request.query("query", limits: limits), try Page(request))
        case "rules": self = .rules(try Rules(request, limits: limits))
        case "facts": self = .facts(try Facts(request, limits: limits))
        case "explain": self = .explain(query: try request.query("query", limits: limits), all: try request.optionalBool("all") ?? false)
        case "policy-create":
            let name = try request.policyName("name", limits: limits)
            let rules = request.member("rule") == nil ? nil : try Rules.text(request, limits: limits)
            self = .policyCreate(name: name, rules: rules)
        case "policy-delete": self = .policyDelete(name: try request.policyName("name", limits: limits))
        case "policy-list": self = .policyList
        case "simulate": self = .simulate(changes: try Change.list(request, limits: limits, pausing: &pauses), tables: try request.tables("tables", limits: limits))
        default:
            // The name is quoted cut short: a megabyte of op is not echoed back.
            let op = request.op.utf8.count > 64 ? "\(request.op.prefix(64))... (\(request.op.utf8.count) bytes)" : request.op
            throw BusError(.unknownOp, "unknown op '\(op)'")
        }
    }

    /// The op's name on the wire.
    public var op: String {
        switch self {
        case .hello: "hello"
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .renew: "renew"
        case .snapshotChunk: "snapshot-chunk"
        case .status: "status"
        case .tables: "tables"
        case .query: "query"
        case .rules: "rules"
        case .facts: "facts"
        case .explain: "explain"
        case .policyCreate: "policy-create"
        case .policyDelete: "policy-delete"
        case .policyList: "policy-list"
        case .simulate: "simulate"
        }
    }

    /// The op's fields on the wire (without `op`, `id` and `client`): what
    /// `init` decodes back into the same command.
    public var fields: [String: JSON] {
        switch self {
        case .hello, .renew, .policyList: [:]
        case .status(let page), .tables(let page): page.fields
        case .subscribe(let tables, let since):
            ["tables": .array(tables.map { .string($0.description) })].merging(since.map { ["since": $0.json] } ?? [:]) { $1 }
        case .unsubscribe(let tables): ["tables": .array(tables.map { .string($0.description) })]
        case .snapshotChunk(let snapshot, let offset): ["snapshot": .string(snapshot), "offset": .int(Int64(offset))]
        case .query(let text, let page): page.fields.merging(["query": .string(text)]) { $1 }
        case .rules(.list(let policy)): ["action": .string("list"), "policy": .string(policy)]
        case .rules(.insert(let policy, let text)): ["action": .string("insert"), "policy": .string(policy), "rule": .string(text)]
        case .rules(.delete(let policy, let text)): ["action": .string("delete"), "policy": .string(policy), "rule": .string(text)]
        case .facts(let facts):
            ["action": .string(facts.action.rawValue), "table": .string(facts.table.description), "rows": JSON(rows: facts.rows)]
        case .explain(let query, let all): ["query": .string(query), "all": .bool(all)]
        case .policyCreate(let name, let rules): ["name": .string(name)].merging(rules.map { ["rule": .string($0)] } ?? [:]) { $1 }
        case .policyDelete(let name): ["name": .string(name)]
        case .simulate(let changes, let tables):
            ["changes": .array(changes.map(\.json)), "tables": .array(tables.map { .string($0.description) })]
        }
    }
}

extension ControlCommand {
    /// The largest reply the node sends for this command: `maxReplyBytes`,
    /// but for `subscribe` and `snapshot-chunk`, whose rows are bounded by
    /// the snapshot chunk size instead. A chunk size over the reply limit
    /// had every chunk refused, and its client asked for a new snapshot
    /// without end.
    func replyLimit(_ limits: BusLimits) -> Int? {
        switch self {
        case .subscribe, .snapshotChunk: nil
        default: limits.maxReplyBytes
        }
    }

    /// The refusal of a reply over `replyLimit`, saying how to ask for less.
    /// `bytes` nil: the reply was given up as soon as it passed the limit.
    func replyTooLarge(bytes: Int?, limit: Int) -> BusError {
        let how = switch self {
        case .query, .tables, .status: "ask for a page: \"limit\" items from \"offset\""
        case .explain: "ask about fewer rows, or without \"all\""
        case .simulate: "ask about fewer tables, or simulate a smaller change"
        default: "ask for less"
        }
        let size = bytes.map { "\($0) bytes" } ?? "more than \(limit) bytes"
        return BusError(.replyTooLarge, "the reply would be \(size); the limit is \(limit): \(how)")
    }
}

extension ControlCommand.Page {
    /// Optional `offset` and `limit`: non-negative integers.
    init(_ request: ControlRequest) throws(BusError) {
        offset = try request.optionalCount("offset") ?? 0
        limit = try request.optionalCount("limit")
    }
}

extension ControlCommand.Rules {
    /// Fields in the order the node has always checked them: `action`, `policy`, then `rule`.
    init(_ request: ControlRequest, limits: BusLimits) throws(BusError) {
        let action = try request.string("action")
        let policy = try request.string("policy")
        // A policy is the service part of its tables' names.
        guard policy.utf8.count <= limits.maxTableNameLength else {
            throw BusError(.tooLarge, "policy name of \(policy.utf8.count) bytes; the limit is \(limits.maxTableNameLength)")
        }
        switch action {
        case "list": self = .list(policy: policy)
        case "insert": self = .insert(policy: policy, text: try Self.text(request, limits: limits))
        case "delete": self = .delete(policy: policy, text: try Self.text(request, limits: limits))
        default: throw BusError(.badRequest, "\"action\" must be list, insert or delete")
        }
    }

    /// The `rule` field: at most `maxRuleTextLength` bytes. The engine parses
    /// it, once, and refuses a table name over the limit there
    /// (`Engine.maxTableNameLength`, `bad-table-name`).
    static func text(_ request: ControlRequest, limits: BusLimits) throws(BusError) -> String {
        let text = try request.string("rule")
        guard text.utf8.count <= limits.maxRuleTextLength else {
            throw BusError(.tooLarge, "rule text of \(text.utf8.count) bytes; the limit is \(limits.maxRuleTextLength)")
        }
        return text
    }
}

extension ControlCommand.Change {
    /// The `changes` of a `simulate`: an array of objects, each a `rules`
    /// insert or delete or a `facts` request without `id` and `client`
    /// (`{"op": "facts", "action": "insert", "table": T, "rows": [...]}`),
    /// each checked as that op is. Together they hold at most
    /// `maxRowsPerRequest` rows and `maxRuleTextLength` bytes of rule text,
    /// the limits of one request. A hundred thousand changes take tens of
    /// milliseconds: `pauses` ticks at each.
    static func list(_ request: ControlRequest, limits: BusLimits, pausing pauses: inout PausePoints) throws(BusError) -> [Self] {
        let items: [ControlRequest.ReadChange]
        if let read = request.readChanges {
            items = read
        } else if let array = request.member("changes")?.arrayValue {
            items = array.map { item in
                guard case .object(let members) = item else { return .other }
                return .object(.init(members))
            }
        } else {
            throw BusError(.badRequest, "\"changes\" must be an array of rules and facts changes")
        }
        var changes: [Self] = []
        var rows = 0
        var text = 0
        for item in items {
            pauses.tick()
            guard case .object(let object) = item, let op = object.op?.stringValue else {
                throw BusError(.badRequest, "each change is an object with \"op\": \"rules\" or \"facts\"")
            }
            let fields = ControlRequest(op: op, change: object)
            switch op {
            case "rules":
                let rules = try ControlCommand.Rules(fields, limits: limits)
                switch rules {
                case .list: throw BusError(.badRequest, "a rules change inserts or deletes rules; \"list\" changes nothing")
                case .insert(_, let rule), .delete(_, let rule): text += rule.utf8.count
                }
                changes.append(.rules(rules))
            case "facts":
                let facts = try ControlCommand.Facts(fields, limits: limits)
                rows += facts.rows.count
                changes.append(.facts(facts))
            default:
                throw BusError(.badRequest, "a change's \"op\" is \"rules\" or \"facts\", not '\(op)'")
            }
            guard rows <= limits.maxRowsPerRequest else {
                throw BusError(.tooManyRows, "the changes hold more than \(limits.maxRowsPerRequest) rows, the limit of one request")
            }
            guard text <= limits.maxRuleTextLength else {
                throw BusError(.tooLarge, "the changes hold more than \(limits.maxRuleTextLength) bytes of rule text, the limit of one request")
            }
        }
        return changes
    }

    /// The change as `list` reads it.
    var json: JSON {
        switch self {
        case .rules(let rules): .object(ControlCommand.rules(rules).fields.merging(["op": .string("rules")]) { $1 })
        case .facts(let facts): .object(ControlCommand.facts(facts).fields.merging(["op": .string("facts")]) { $1 })
        }
    }
}

extension ControlRequest {
    /// The fields of a request nested in another (a `simulate`'s change).
    init(op: String, change: ChangeFields) {
        self.op = op
        self.id = nil
        self.client = nil
        self.body = [:]
        self.readRows = change.rows
        self.changeFields = change
    }

    /// A request of the given members, read as a tree.
    init(op: String, body: [String: JSON]) {
        self.op = op
        self.id = nil
        self.client = nil
        self.body = body
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

extension ControlRequest {
    /// A policy name to create or delete: within the table name limit (a
    /// policy is the service part of its tables' names) and an identifier.
    func policyName(_ key: String, limits: BusLimits) throws(BusError) -> String {
        let name = try string(key)
        guard name.utf8.count <= limits.maxTableNameLength else {
            throw BusError(.tooLarge, "policy name of \(name.utf8.count) bytes; the limit is \(limits.maxTableNameLength)")
        }
        guard TableID.isIdentifier(name) else {
            throw BusError(
                .badPolicyName, "'\(name)' is not a policy name: use letters, digits, '_', '-' or '.', not starting with a digit")
        }
        return name
    }

    /// The query of `query` or `explain`: at most `maxQueryLength` bytes and,
    /// when it parses as a qualified atom, a table name and a pattern within
    /// their limits. Other text is left to the node: a data source reads an
    /// unqualified table name (and checks it), an engine says where the
    /// syntax is wrong.
    func query(_ key: String, limits: BusLimits) throws(BusError) -> String {
        let text = try string(key)
        guard text.utf8.count <= limits.maxQueryLength else {
            throw BusError(.tooLarge, "query of \(text.utf8.count) bytes; the limit is \(limits.maxQueryLength)")
        }
        guard let query = try? PolicyParser.parseQuery(text, defaultPolicy: nil) else { return text }
        _ = try Self.tableID(query.table.description, limits: limits)
        if let arguments = query.arguments, arguments.count > limits.maxArity {
            throw BusError(.tooLarge, "a pattern of \(arguments.count) columns; the limit is \(limits.maxArity)")
        }
        return text
    }
}

extension ControlCommand {
    /// Where a resyncing client's copy of a table stands: `{"epoch": E, "seq": S}`.
    public struct Since: Hashable, Sendable {
        public var epoch: String
        public var seq: UInt64

        public init(epoch: String, seq: UInt64) {
            self.epoch = epoch
            self.seq = seq
        }

        /// The request's `since`, if any.
        init?(_ request: ControlRequest) throws(BusError) {
            guard let json = request.member("since") else { return nil }
            guard let epoch = json["epoch"]?.stringValue, case .int(let seq)? = json["seq"], seq >= 0 else {
                throw BusError(.badRequest, "\"since\" must be {\"epoch\": STRING, \"seq\": INT >= 0}")
            }
            self.init(epoch: epoch, seq: UInt64(seq))
        }

        var json: JSON { .object(["epoch": .string(epoch), "seq": .int(Int64(seq))]) }
    }
}
