import PolicyEngine

/// A table row: one value per column.
public typealias Row = [Value]

/// The protocol version this library speaks (`docs/PROTOCOL.md`).
public let busProtocolVersion = 2

/// A message on a node's PUB socket: one frame, `TABLE + " " + JSON`.
public enum DataMessage: Hashable, Sendable {
    case delta(Delta)
    case heartbeat(Heartbeat)

    /// A change to one table.
    public struct Delta: Hashable, Sendable {
        public var table: TableID
        public var publisher: String
        public var epoch: String
        /// The table's sequence number after this delta.
        public var seq: UInt64
        public var added: [Row]
        public var removed: [Row]

        public init(table: TableID, publisher: String, epoch: String, seq: UInt64, added: [Row], removed: [Row]) {
            self.table = table
            self.publisher = publisher
            self.epoch = epoch
            self.seq = seq
            self.added = added
            self.removed = removed
        }
    }

    /// "Table `table` is at `seq`": lets a subscriber notice a lost delta and a silent publisher.
    public struct Heartbeat: Hashable, Sendable {
        public var table: TableID
        public var publisher: String
        public var epoch: String
        public var seq: UInt64

        public init(table: TableID, publisher: String, epoch: String, seq: UInt64) {
            self.table = table
            self.publisher = publisher
            self.epoch = epoch
            self.seq = seq
        }
    }

    public var table: TableID {
        switch self {
        case .delta(let delta): delta.table
        case .heartbeat(let heartbeat): heartbeat.table
        }
    }
}

// MARK: - Topics

extension DataMessage {
    /// The SUB subscription prefix for `table`: its name and the space that
    /// ends the topic, so that `alice:error` never matches `alice:errors`.
    public static func topic(_ table: TableID) -> [UInt8] {
        Array("\(table) ".utf8)
    }
}

// MARK: - Encoding

extension DataMessage {
    /// The message's single frame.
    public func encoded() -> [UInt8] {
        switch self {
        case .delta(let delta):
            var writer = JSONWriter(capacity: 128)
            writer.bytes.append(contentsOf: Self.deltaPrefix(table: delta.table, publisher: delta.publisher, epoch: delta.epoch))
            Self.finishDelta(&writer, seq: delta.seq, added: delta.added, removed: delta.removed)
            return writer.bytes
        case .heartbeat(let heartbeat):
            var writer = JSONWriter(capacity: 96)
            writer.bytes.append(contentsOf: Self.topic(heartbeat.table))
            writer.raw("{\"type\":\"hb\",\"pub\":")
            writer.string(heartbeat.publisher)
            writer.raw(",\"epoch\":")
            writer.string(heartbeat.epoch)
            writer.raw(",\"seq\":")
            writer.uint(heartbeat.seq)
            writer.raw("}")
            return writer.bytes
        }
    }

    /// Everything of a delta frame up to `"seq":`; the same for every delta
    /// of a table, so a publisher computes it once.
    static func deltaPrefix(table: TableID, publisher: String, epoch: String) -> [UInt8] {
        var writer = JSONWriter(capacity: 96)
        writer.bytes.append(contentsOf: topic(table))
        writer.raw("{\"type\":\"delta\",\"pub\":")
        writer.string(publisher)
        writer.raw(",\"epoch\":")
        writer.string(epoch)
        writer.raw(",\"seq\":")
        return writer.bytes
    }

    /// Writes the rest of a delta frame, in one step unless the delta is
    /// large: the publish path's cost is mostly this.
    static func finishDelta(_ writer: inout JSONWriter, seq: UInt64, added: some Collection<Row>, removed: some Collection<Row>) {
        let rowsBound = JSONOutput.bound(added) + JSONOutput.bound(removed)
        guard rowsBound <= JSONWriter.largestStep else {
            writeTail(&writer, seq: seq, added: added, removed: removed)
            return
        }
        // The seq, then `,"added":`, `,"removed":` and `}` (23 bytes).
        writer.write(bound: JSONOutput.intBound + 23 + rowsBound) { output in
            writeTail(&output, seq: seq, added: added, removed: removed)
        }
    }

    private static func writeTail(_ sink: inout some JSONSink, seq: UInt64, added: some Collection<Row>, removed: some Collection<Row>) {
        sink.uint(seq)
        sink.raw(",\"added\":")
        sink.rows(added)
        sink.raw(",\"removed\":")
        sink.rows(removed)
        sink.raw("}")
    }
}

// MARK: - Decoding

extension DataMessage {
    /// Decodes one data frame.
    /// - Throws: `BusError` `bad-frames` without a topic, `bad-table-name`,
    ///   `bad-json`, or `bad-request` for a JSON body that is not a delta or heartbeat.
    public init(decoding frame: [UInt8]) throws(BusError) {
        let space = try Self.topicEnd(frame)
        try self.init(decoding: frame, table: try Self.table(frame, topicEnd: space), topicEnd: space)
    }

    /// The index of the space that ends the frame's topic.
    static func topicEnd(_ frame: [UInt8]) throws(BusError) -> Int {
        guard let space = frame.firstIndex(of: 0x20) else { throw BusError(.badFrames, "data frame without a topic") }
        return space
    }

    /// The table the frame's topic names.
    static func table(_ frame: [UInt8], topicEnd space: Int) throws(BusError) -> TableID {
        let table = frame.withUnsafeBufferPointer { TableID(utf8: UnsafeBufferPointer(rebasing: $0[..<space])) }
        guard let table else { throw BusError(.badTableName, "bad topic '\(String(decoding: frame[..<space], as: UTF8.self))'") }
        return table
    }

    /// Decodes a frame whose topic (the bytes before `topicEnd`) names
    /// `table`: a caller that has seen the same topic before can skip parsing
    /// the name again.
    init(decoding frame: [UInt8], table: TableID, topicEnd space: Int) throws(BusError) {
        if let message = Self.decodeCanonical(frame, bodyStart: space + 1, table: table) {
            self = message
            return
        }
        let body: JSON
        do { body = try JSON.parse(frame[(space + 1)...]) } catch { throw BusError(error) }
        guard let type = body["type"]?.stringValue,
            let publisher = body["pub"]?.stringValue,
            let epoch = body["epoch"]?.stringValue,
            let seqValue = body["seq"]?.intValue, seqValue >= 0
        else { throw BusError(.badRequest, "data message lacks type, pub, epoch or seq") }
        let seq = UInt64(seqValue)
        switch type {
        case "hb":
            self = .heartbeat(Heartbeat(table: table, publisher: publisher, epoch: epoch, seq: seq))
        case "delta":
            guard let added = body["added"], let removed = body["removed"] else {
                throw BusError(.badRequest, "delta lacks added or removed")
            }
            self = .delta(
                Delta(
                    table: table, publisher: publisher, epoch: epoch, seq: seq,
                    added: try RowCodec.rows(added), removed: try RowCodec.rows(removed)))
        default:
            throw BusError(.badRequest, "unknown data message type '\(type)'")
        }
    }
}

/// Converts between JSON and table rows.
public enum RowCodec {
    /// A JSON value as a table value: ints, floats and strings only.
    public static func value(_ json: JSON) throws(BusError) -> Value {
        switch json {
        case .int(let number): return .int(number)
        case .float(let number): return .float(number)
        case .string(let text): return .string(text)
        default: throw error(.notAValue(json))
        }
    }

    /// The refusal of a bad row, however it was read (`JSONParser.parseRows` reads without a tree).
    static func error(_ problem: JSONParser.RowProblem) -> BusError {
        switch problem {
        case .notAnArray: BusError(.badRequest, "a row must be an array")
        case .notAValue(let json): BusError(.badRequest, "a value must be a number or a string, not \(json.text)")
        }
    }

    /// A JSON array of values as a row.
    public static func row(_ json: JSON) throws(BusError) -> Row {
        guard case .array(let elements) = json else { throw error(.notAnArray) }
        var row: Row = []
        row.reserveCapacity(elements.count)
        for element in elements { row.append(try value(element)) }
        return row
    }

    /// A JSON array of arrays as rows.
    public static func rows(_ json: JSON) throws(BusError) -> [Row] {
        guard case .array(let elements) = json else { throw BusError(.badRequest, "rows must be an array of arrays") }
        var rows: [Row] = []
        rows.reserveCapacity(elements.count)
        for element in elements { rows.append(try row(element)) }
        return rows
    }
}
