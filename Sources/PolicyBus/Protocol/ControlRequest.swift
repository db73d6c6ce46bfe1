import PolicyEngine

/// A parsed control request: `{"op": ..., "id": ..., "client": ..., ...}`.
public struct ControlRequest: Sendable {
    public var op: String
    /// Echoed in the reply; any JSON value.
    public var id: JSON?
    /// The client's chosen id; keys its subscriptions and lease.
    public var client: String?
    /// The request object's members, but for those the frame's parse read
    /// without a tree: `rows`, and a `simulate`'s `changes`.
    public var body: [String: JSON]
    /// The `rows` array, read straight into rows (`JSONParser.parseRows`):
    /// a request's rows are most of its bytes, and a tree of them costs
    /// more to build and to free than the rows themselves.
    var readRows: ReadRows?
    /// The `changes` array, its objects read into their fields.
    var readChanges: [ReadChange]?
    /// A `simulate`'s change: its fields, in place of `body`.
    var changeFields: ChangeFields?

    /// Rows read without a tree, with the first bad one's problem.
    struct ReadRows: Sendable {
        var rows: [Row]
        var problem: JSONParser.RowProblem?
    }

    /// One element of `changes`.
    enum ReadChange: Sendable {
        case object(ChangeFields)
        /// Anything but an object.
        case other
    }

    /// The members a `simulate`'s change may have (those of a `rules` or
    /// `facts` request), each as its last mention gave it; other members
    /// are read and dropped, as nothing reads them. A simulate holds up to
    /// 100 000 changes: fields in place, not a dictionary each.
    struct ChangeFields: Sendable {
        var op, action, table, policy, rule: JSON?
        /// `rows` when it is an array: read straight into rows.
        var rows: ReadRows?
        /// `rows` when it is not an array.
        var otherRows: JSON?

        subscript(key: String) -> JSON? {
            switch key {
            case "op": op
            case "action": action
            case "table": table
            case "policy": policy
            case "rule": rule
            case "rows": otherRows
            default: nil
            }
        }

        /// The fields of an object read as a tree.
        init(_ members: [String: JSON]) {
            (op, action, table, policy, rule, otherRows) = (members["op"], members["action"], members["table"], members["policy"], members["rule"], members["rows"])
        }

        init() {}
    }

    /// A request object's members, with its `rows` and `changes` read without a tree.
    struct ReadObject: Sendable {
        var members: [String: JSON] = [:]
        var rows: ReadRows?
        var changes: [ReadChange]?
    }

    /// Parses one request frame, and checks the `client` id against its
    /// limit before anything keys, logs or hashes it: a 10 MB id is refused
    /// here, not written to the log in the refusal. No array of a request
    /// is longer than its rows may be (`maxRowsPerRequest`): the parse stops
    /// at the first that is, so a frame of millions of rows is refused
    /// after the first 100 000, not built whole and then refused.
    /// - Throws: `bad-json`, `bad-request` (not an object, no `op`, `client`
    ///   not a string), `too-large` (`client` over `limits.maxClientIDLength`),
    ///   `too-many-rows` (an array over `limits.maxRowsPerRequest`).
    public init(frame: [UInt8], limits: BusLimits = BusLimits()) throws(BusError) {
        var reading = Reading(frame: frame, limits: limits)
        while try !reading.step(upTo: .max) {}
        try self.init(reading.object, limits: limits)
    }

    /// The request a whole `Reading` read.
    /// - Parameter object: nil when the frame's JSON was not an object.
    init(_ object: ReadObject?, limits: BusLimits) throws(BusError) {
        guard let object else { throw BusError(.badRequest, "a request must be a JSON object") }
        let members = object.members
        guard let op = members["op"]?.stringValue else { throw BusError(.badRequest, "a request needs \"op\", a string") }
        self.op = op
        self.id = members["id"]
        self.body = members
        self.readRows = object.rows
        self.readChanges = object.changes
        switch members["client"] {
        case nil, .null?: client = nil
        case .string(let text)?:
            guard text.utf8.count <= limits.maxClientIDLength else {
                throw BusError(.tooLarge, "\"client\" is \(text.utf8.count) bytes; the limit is \(limits.maxClientIDLength)")
            }
            client = text
        default: throw BusError(.badRequest, "\"client\" must be a string")
        }
    }

    /// One change object's fields.
    static func readChange(_ parser: inout JSONParser) throws(JSONError) -> ChangeFields {
        var fields = ChangeFields()
        if try parser.open(UInt8(ascii: "{"), closing: UInt8(ascii: "}")) { return fields }
        repeat {
            let key = try parser.parseMemberName()
            if key == "rows", let rows = try parser.parseRows() {
                fields.rows = ReadRows(rows: rows.rows, problem: rows.problem)
                fields.otherRows = nil
                continue
            }
            let value = try parser.parseValue()
            switch key {
            case "op": fields.op = value
            case "action": fields.action = value
            case "table": fields.table = value
            case "policy": fields.policy = value
            case "rule": fields.rule = value
            case "rows":
                fields.rows = nil
                fields.otherRows = value
            default: break
            }
        } while try parser.next(closing: UInt8(ascii: "}"))
        return fields
    }

    /// The id from a frame that could not be parsed as a request, so even an
    /// error reply echoes it when possible: also from a frame that is not
    /// valid JSON, when the id comes before the damage (PROTOCOL.md §3; an
    /// array longer than the rows of a request is damage here too).
    public static func bestEffortID(_ frame: [UInt8], limits: BusLimits = BusLimits()) -> JSON? {
        JSON.member("id", readableIn: frame, maxArrayCount: limits.maxRowsPerRequest)
    }

    /// The op, read as `bestEffortID` reads the id: a request refused before
    /// it is parsed (`busy`) is still counted under its op.
    public static func bestEffortOp(_ frame: [UInt8], limits: BusLimits = BusLimits()) -> String? {
        JSON.member("op", readableIn: frame, maxArrayCount: limits.maxRowsPerRequest)?.stringValue
    }

    // MARK: - Fields

    /// A member of the request, or of the change it is.
    func member(_ key: String) -> JSON? {
        if let changeFields { return changeFields[key] }
        return body[key]
    }

    /// A required string field.
    public func string(_ key: String) throws(BusError) -> String {
        guard let value = member(key)?.stringValue else { throw BusError(.badRequest, "\"\(key)\" must be a string") }
        return value
    }

    /// An optional string field.
    public func optionalString(_ key: String) throws(BusError) -> String? {
        switch member(key) {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw BusError(.badRequest, "\"\(key)\" must be a string")
        }
    }

    /// An optional boolean field.
    public func optionalBool(_ key: String) throws(BusError) -> Bool? {
        switch member(key) {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        default: throw BusError(.badRequest, "\"\(key)\" must be true or false")
        }
    }

    /// An optional non-negative integer field (`offset`, `limit`).
    public func optionalCount(_ key: String) throws(BusError) -> Int? {
        switch member(key) {
        case nil, .null?: return nil
        case .int(let number)? where number >= 0: return Int(number)
        default: throw BusError(.badRequest, "\"\(key)\" must be a non-negative integer")
        }
    }

    /// A required table name.
    public func table(_ key: String, limits: BusLimits) throws(BusError) -> TableID {
        try Self.tableID(try string(key), limits: limits)
    }

    /// A required non-empty array of table names, without duplicates.
    public func tables(_ key: String, limits: BusLimits) throws(BusError) -> [TableID] {
        guard let names = member(key)?.arrayValue else { throw BusError(.badRequest, "\"\(key)\" must be an array of table names") }
        guard !names.isEmpty else { throw BusError(.badRequest, "\"\(key)\" is empty") }
        guard names.count <= limits.maxSubscriptionsPerClient else {
            throw BusError(.tooManySubscriptions, "\(names.count) tables in one request; the limit is \(limits.maxSubscriptionsPerClient)")
        }
        var tables: [TableID] = []
        var seen: Set<TableID> = []
        for name in names {
            guard let text = name.stringValue else { throw BusError(.badRequest, "table names must be strings") }
            let table = try Self.tableID(text, limits: limits)
            if seen.insert(table).inserted { tables.append(table) }
        }
        return tables
    }

    /// A required array of rows, at most `limits.maxRowsPerRequest`, each of
    /// at most `limits.maxArity` columns.
    public func rows(_ key: String, limits: BusLimits) throws(BusError) -> [Row] {
        let rows: [Row]
        if key == "rows", let readRows {
            guard readRows.rows.count <= limits.maxRowsPerRequest else {
                throw BusError(.tooManyRows, "\(readRows.rows.count) rows; the limit is \(limits.maxRowsPerRequest)")
            }
            if let problem = readRows.problem { throw RowCodec.error(problem) }
            rows = readRows.rows
        } else {
            guard let json = member(key) else { throw BusError(.badRequest, "\"\(key)\" must be an array of rows") }
            if let count = json.arrayValue?.count, count > limits.maxRowsPerRequest {
                throw BusError(.tooManyRows, "\(count) rows; the limit is \(limits.maxRowsPerRequest)")
            }
            rows = try RowCodec.rows(json)
        }
        if let wide = rows.first(where: { $0.count > limits.maxArity }) {
            throw BusError(.tooLarge, "a row of \(wide.count) columns; the limit is \(limits.maxArity)")
        }
        return rows
    }

    /// Validates a qualified table name.
    public static func tableID(_ text: String, limits: BusLimits) throws(BusError) -> TableID {
        guard text.utf8.count <= limits.maxTableNameLength else {
            throw BusError(.badTableName, "table name longer than \(limits.maxTableNameLength) bytes")
        }
        guard let table = TableID(text) else {
            throw BusError(.badTableName, "'\(text)' is not a table name of the form service:table")
        }
        return table
    }
}

// MARK: - Encoding

extension ControlRequest {
    /// The frame of one request, `{"op":OP,"id":ID,"client":CLIENT,...fields}`:
    /// the one request encoder of every Swift client (`ControlClient`, the
    /// subscription code).
    public static func frame(op: String, id: Int64, client: String, fields: [String: JSON] = [:]) -> [UInt8] {
        var body = fields
        body["op"] = .string(op)
        body["id"] = .int(id)
        body["client"] = .string(client)
        var writer = JSONWriter()
        writer.json(.object(body))
        return writer.bytes
    }

    /// The frame of a typed command.
    public static func frame(_ command: ControlCommand, id: Int64, client: String) -> [UInt8] {
        frame(op: command.op, id: id, client: client, fields: command.fields)
    }
}
