import PolicyEngine

/// A parsed control request: `{"op": ..., "id": ..., "client": ..., ...}`.
public struct ControlRequest: Sendable {
    public var op: String
    /// Echoed in the reply; any JSON value.
    public var id: JSON?
    /// The client's chosen id; keys its subscriptions and lease.
    public var client: String?
    /// The whole request object.
    public var body: [String: JSON]

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
        let json: JSON
        do {
            json = try JSON.parse(frame, maxArrayCount: limits.maxRowsPerRequest)
        } catch {
            guard let limit = error.elementLimit else { throw BusError(error) }
            throw BusError(.tooManyRows, "an array of more than \(limit) elements: a request holds at most \(limit) rows, and no longer array")
        }
        guard case .object(let members) = json else { throw BusError(.badRequest, "a request must be a JSON object") }
        guard let op = members["op"]?.stringValue else { throw BusError(.badRequest, "a request needs \"op\", a string") }
        self.op = op
        self.id = members["id"]
        self.body = members
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

    /// The id from a frame that could not be parsed as a request, so even an
    /// error reply echoes it when possible: also from a frame that is not
    /// valid JSON, when the id comes before the damage (PROTOCOL.md §3; an
    /// array longer than the rows of a request is damage here too).
    public static func bestEffortID(_ frame: [UInt8], limits: BusLimits = BusLimits()) -> JSON? {
        JSON.member("id", readableIn: frame, maxArrayCount: limits.maxRowsPerRequest)
    }

    // MARK: - Fields

    /// A required string field.
    public func string(_ key: String) throws(BusError) -> String {
        guard let value = body[key]?.stringValue else { throw BusError(.badRequest, "\"\(key)\" must be a string") }
        return value
    }

    /// An optional string field.
    public func optionalString(_ key: String) throws(BusError) -> String? {
        switch body[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw BusError(.badRequest, "\"\(key)\" must be a string")
        }
    }

    /// An optional boolean field.
    public func optionalBool(_ key: String) throws(BusError) -> Bool? {
        switch body[key] {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        default: throw BusError(.badRequest, "\"\(key)\" must be true or false")
        }
    }

    /// An optional non-negative integer field (`offset`, `limit`).
    public func optionalCount(_ key: String) throws(BusError) -> Int? {
        switch body[key] {
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
        guard let names = body[key]?.arrayValue else { throw BusError(.badRequest, "\"\(key)\" must be an array of table names") }
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
        guard let json = body[key] else { throw BusError(.badRequest, "\"\(key)\" must be an array of rows") }
        if let count = json.arrayValue?.count, count > limits.maxRowsPerRequest {
            throw BusError(.tooManyRows, "\(count) rows; the limit is \(limits.maxRowsPerRequest)")
        }
        let rows = try RowCodec.rows(json)
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
