import Monitoring
import PolicyEngine

/// The fields of a successful reply, one struct per shape in
/// `docs/PROTOCOL.md` section 4. `ControlReply.ok(id:_:)` is the one encoder.
protocol ControlReplyBody {
    /// The reply's op-specific fields (without `ok` and `id`).
    var fields: [String: JSON] { get }
}

extension ControlReply {
    /// Encodes a typed reply body: `{"ok":true,"id":ID,...body}`.
    static func ok(id: JSON?, _ body: some ControlReplyBody) -> [UInt8] {
        ok(id: id, body.fields)
    }

    /// Encodes the reply to `command`, refused (`reply-too-large`) when it is
    /// over the command's reply limit: no reply, however big the node's
    /// tables, goes out larger than `BusLimits.maxReplyBytes`.
    static func ok(id: JSON?, _ body: some ControlReplyBody, to command: ControlCommand, limits: BusLimits) throws(BusError) -> [UInt8] {
        let limit = command.replyLimit(limits)
        if let rows = body as? Rows {
            // The one reply that grows with a table: written straight, and given up past the limit.
            guard let reply = rows.encoded(id: id, limit: limit ?? .max) else {
                throw command.replyTooLarge(bytes: nil, limit: limit ?? .max)
            }
            return reply
        }
        let reply = ok(id: id, body)
        if let limit, reply.count > limit {
            throw command.replyTooLarge(bytes: reply.count, limit: limit)
        }
        return reply
    }

    /// `{"ok":true}` and nothing else: `rules insert|delete`, an engine's `facts`.
    struct Done: ControlReplyBody {
        var fields: [String: JSON] { [:] }
    }

    /// `hello`, and the first fields of `subscribe`.
    struct Hello: ControlReplyBody {
        var name: String
        var kind: String
        var data: String
        var epoch: String
        var heartbeatMilliseconds: Int
        var leaseMilliseconds: Int

        var fields: [String: JSON] {
            [
                "name": .string(name), "kind": .string(kind), "version": .int(Int64(busProtocolVersion)),
                "data": .string(data), "epoch": .string(epoch),
                "heartbeat_ms": .int(Int64(heartbeatMilliseconds)), "lease_ms": .int(Int64(leaseMilliseconds)),
            ]
        }
    }

    /// `subscribe`: `hello`'s fields and a snapshot per table.
    struct Subscribed: ControlReplyBody {
        struct Snapshot {
            enum Contents {
                /// Every row: a snapshot.
                case rows([Row])
                /// The deltas after the request's `since`, in order: a resume.
                case deltas([DeltaHistory.Delta])
                /// More rows than one chunk: the id of their capture, read
                /// with `snapshot-chunk`, and how many rows it holds.
                case chunked(id: String, rows: Int)
            }

            var seq: UInt64
            var columns: [String]?
            var contents: Contents
            /// Whether the request had `since`: a snapshot then says it is not a resume.
            var sinceGiven = false
        }

        var hello: Hello
        var snapshots: [TableID: Snapshot]

        var fields: [String: JSON] {
            var fields = hello.fields
            fields["tables"] = .object(Dictionary(uniqueKeysWithValues: snapshots.map { table, snapshot in
                var entry: [String: JSON] = ["seq": .int(Int64(snapshot.seq)), "columns": JSON(columns: snapshot.columns)]
                switch snapshot.contents {
                case .rows(let rows):
                    entry["rows"] = JSON(rows: rows)
                    if snapshot.sinceGiven { entry["resumed"] = .bool(false) }
                case .chunked(let id, let rows):
                    entry["chunked"] = .object(["snapshot": .string(id), "rows": .int(Int64(rows))])
                    if snapshot.sinceGiven { entry["resumed"] = .bool(false) }
                case .deltas(let deltas):
                    entry["resumed"] = .bool(true)
                    entry["deltas"] = .array(deltas.map { delta in
                        .object(["seq": .int(Int64(delta.seq)), "added": JSON(rows: delta.added), "removed": JSON(rows: delta.removed)])
                    })
                }
                return (table.description, JSON.object(entry))
            }))
            return fields
        }
    }

    /// `snapshot-chunk`: rows of a chunked snapshot from `offset`, and how
    /// many follow them.
    struct SnapshotChunk: ControlReplyBody {
        var offset: Int
        var rows: ArraySlice<Row>
        var more: Int

        var fields: [String: JSON] { ["offset": .int(Int64(offset)), "rows": JSON(rows: rows), "more": .int(Int64(more))] }
    }

    /// `unsubscribe`, `renew`: the tables the client holds.
    struct HeldTables: ControlReplyBody {
        var tables: [TableID]
        var fields: [String: JSON] { ["tables": .array(tables.map { .string($0.description) })] }
    }

    /// `tables`.
    struct TableList: ControlReplyBody {
        struct Table {
            var name: TableID
            var columns: [String]?
            var seq: UInt64
            var rows: Int
            var subscribers: Int
        }

        var tables: [Table]
        /// Tables after this page.
        var more: Int

        var fields: [String: JSON] {
            ["more": .int(Int64(more)), "tables": .array(tables.map { table in
                .object([
                    "name": .string(table.name.description), "columns": JSON(columns: table.columns), "seq": .int(Int64(table.seq)),
                    "rows": .int(Int64(table.rows)), "subscribers": .int(Int64(table.subscribers)),
                ])
            })]
        }
    }

    /// `query`: a page of the matching rows, sorted.
    struct Rows: ControlReplyBody {
        var rows: ArraySlice<Row>
        /// Matching rows after this page.
        var more: Int

        /// The page of `rows` (sorted) that `page` asks for.
        init(_ rows: [Row], page: ControlCommand.Page) {
            (self.rows, more) = page.slice(rows)
        }

        var fields: [String: JSON] { ["rows": JSON(rows: Array(rows)), "more": .int(Int64(more))] }

        /// The reply `ok(id:fields)` writes, byte for byte (keys sorted: `id`,
        /// `more`, `ok`, `rows`), written row by row without a JSON tree: a
        /// page of a large table cost its tree (300k rows: 0.6-0.9 s of the
        /// loop in a release build). Nil once it passes `limit` bytes, checked
        /// every 1024 rows, so that a refusal costs at most the limit.
        func encoded(id: JSON?, limit: Int) -> [UInt8]? {
            var writer = JSONWriter(capacity: 64 + rows.count * 16)
            writer.raw("{")
            if let id {
                writer.raw("\"id\":")
                writer.json(id)
                writer.raw(",")
            }
            writer.raw("\"more\":")
            writer.int(Int64(more))
            writer.raw(",\"ok\":true,\"rows\":[")
            for (position, row) in rows.enumerated() {
                if position > 0 { writer.raw(",") }
                writer.row(row)
                if position % 1024 == 1023, writer.bytes.count > limit { return nil }
            }
            writer.raw("]}")
            return writer.bytes.count > limit ? nil : writer.bytes
        }
    }

    /// `rules list`: the canonical texts, and each rule's id and line.
    struct RuleList: ControlReplyBody {
        var rules: [Engine.RuleEntry]
        var fields: [String: JSON] {
            [
                "rules": .array(rules.map { .string($0.text) }),
                "entries": .array(rules.map { .object(["id": .string($0.id), "rule": .string($0.text), "line": .int(Int64($0.line))]) }),
            ]
        }
    }

    /// `simulate`: each asked table's net delta, in the order asked.
    struct Simulated: ControlReplyBody {
        var deltas: [TableDelta]
        var fields: [String: JSON] {
            ["deltas": .array(deltas.map { delta in
                .object(["table": .string(delta.table.description), "added": JSON(rows: delta.added), "removed": JSON(rows: delta.removed)])
            })]
        }
    }

    /// `policy-list`: each policy and how many rules it has.
    struct PolicyList: ControlReplyBody {
        var policies: [(name: String, rules: Int)]
        var fields: [String: JSON] {
            ["policies": .array(policies.map { .object(["name": .string($0.name), "rules": .int(Int64($0.rules))]) })]
        }
    }

    /// `explain` (engines): one explanation per matching row.
    struct Explanations: ControlReplyBody {
        var explanations: [Explanation]
        var fields: [String: JSON] { ["explanations": .array(explanations.map(\.json))] }
    }

    /// A data source's `facts`: the table's seq after the change.
    struct FactsApplied: ControlReplyBody {
        var seq: UInt64
        var fields: [String: JSON] { ["seq": .int(Int64(seq))] }
    }

    /// `status`; `kindSpecific` adds an engine's fields.
    struct Status: ControlReplyBody {
        struct Subscription {
            var client: ClientIdentity
            var tables: [TableID]
            var leaseMillisecondsLeft: UInt64
        }

        struct Table {
            var seq: UInt64
            /// Nil in a long transaction's pause: the engine's count is not read there.
            var rows: Int?
            var subscribers: Int
            /// (engines) The peer tables it reads that are lost or resyncing:
            /// it keeps its last contents, which may be out of date. Nil in a
            /// long transaction's pause, as `rows`.
            var staleInputs: [TableID]? = []
        }

        var name: String
        var kind: String
        var epoch: String
        /// A page of the clients holding subscriptions, by client.
        var subscriptions: [Subscription]
        /// Clients after this page.
        var subscriptionsMore: Int
        /// A page of the published tables.
        var tables: [TableID: Table]
        /// Published tables after this page.
        var tablesMore: Int
        var counters: [String: Int]
        /// Why the node is not ready (what `/readyz` reports); empty when ready.
        var notReady: [HealthState.Failure]
        /// The longest one poll-loop turn's work has held the node since it started.
        var longestStallMicroseconds: UInt64
        /// The process's live heap and resident set (`ProcessMemory`), when the platform tells.
        var heapBytes: Int?
        var residentBytes: Int?
        /// Set when answered in a long transaction's pause: how long the
        /// node's loop has been in that work.
        var busyMilliseconds: UInt64?
        var kindSpecific: (any ControlReplyBody)?

        var fields: [String: JSON] {
            var fields: [String: JSON] = [
                "name": .string(name), "kind": .string(kind), "epoch": .string(epoch),
                "subscriptions": .array(subscriptions.map { subscription in
                    var fields: [String: JSON] = [
                        "client": .string(subscription.client.id),
                        "tables": .array(subscription.tables.map { .string($0.description) }),
                        "lease_ms_left": .int(Int64(subscription.leaseMillisecondsLeft)),
                    ]
                    if let key = subscription.client.key { fields["key"] = .string(key) }
                    return .object(fields)
                }),
                "tables": .object(Dictionary(uniqueKeysWithValues: tables.map { table, status in
                    var fields: [String: JSON] = ["seq": .int(Int64(status.seq)), "subscribers": .int(Int64(status.subscribers))]
                    if let rows = status.rows { fields["rows"] = .int(Int64(rows)) }
                    if let staleInputs = status.staleInputs {
                        fields["stale"] = .bool(!staleInputs.isEmpty)
                        if !staleInputs.isEmpty { fields["stale_inputs"] = .array(staleInputs.map { .string($0.description) }) }
                    }
                    return (table.description, JSON.object(fields))
                })),
                "subscriptions_more": .int(Int64(subscriptionsMore)),
                "tables_more": .int(Int64(tablesMore)),
                "loop_longest_stall_us": .int(Int64(clamping: longestStallMicroseconds)),
                "counters": .object(counters.mapValues { .int(Int64($0)) }),
                "ready": .bool(notReady.isEmpty),
                "not_ready": .array(notReady.map { failure in
                    var fields: [String: JSON] = ["check": .string(failure.check.kind), "reason": .string(failure.reason)]
                    if let name = failure.check.name { fields["name"] = .string(name) }
                    return .object(fields)
                }),
            ]
            if let heapBytes { fields["heap_bytes"] = .int(Int64(heapBytes)) }
            if let residentBytes { fields["resident_bytes"] = .int(Int64(residentBytes)) }
            fields["busy"] = .bool(busyMilliseconds != nil)
            if let busyMilliseconds { fields["busy_ms"] = .int(Int64(clamping: busyMilliseconds)) }
            for (key, value) in kindSpecific?.fields ?? [:] { fields[key] = value }
            return fields
        }
    }

    /// An engine's part of `status`.
    struct EngineStatus: ControlReplyBody {
        struct RemoteTable {
            var synced: Bool
            var seq: UInt64
            var rows: Int
        }

        struct Durability {
            var directory: String
            var records: Int
            var replayed: Int
            var skipped: Int
            var warnings: [String]
        }

        /// A page of the tables with a trigger, sorted.
        var triggers: [TableID]
        /// Triggered tables after this page.
        var triggersMore: Int
        var policies: [String]
        var remote: [TableID: RemoteTable]
        var durability: Durability?

        var fields: [String: JSON] {
            [
                "triggers": .array(triggers.map { .string($0.description) }),
                "triggers_more": .int(Int64(triggersMore)),
                "policies": .array(policies.map(JSON.string)),
                "remote": .object(Dictionary(uniqueKeysWithValues: remote.map { table, status in
                    (table.description, JSON.object([
                        "synced": .bool(status.synced), "seq": .int(Int64(status.seq)), "rows": .int(Int64(status.rows)),
                    ]))
                })),
                "durability": durability.map { durability in
                    .object([
                        "dir": .string(durability.directory), "records": .int(Int64(durability.records)),
                        "replayed": .int(Int64(durability.replayed)), "skipped": .int(Int64(durability.skipped)),
                        "warnings": .array(durability.warnings.map(JSON.string)),
                    ])
                } ?? .null,
            ]
        }
    }
}

extension JSON {
    /// Column names, or `null` when they are unknown.
    init(columns: [String]?) {
        self = columns.map { .array($0.map(JSON.string)) } ?? .null
    }
}
