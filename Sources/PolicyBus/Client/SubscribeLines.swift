import PolicyEngine

/// The lines `policybus subscribe` prints for a table's snapshots and
/// deltas, written a piece at a time.
///
/// A line is handed to `emit` in pieces of about `pieceBytes`, never whole:
/// a 1M-row snapshot (a 33 MB line) printed through a JSON tree and one
/// string held the rows about twice more (the tree, then the text and its
/// copies), 350 MiB at the subscriber's peak; now the line takes one piece
/// besides the sorted rows, and the peak is the table as the client holds
/// it (`Benchmarks/BusBench/subscriber_memory.py`).
public enum SubscribeLines {
    /// How many bytes a piece holds before it is handed on.
    public static let pieceBytes = 1 << 16

    /// Writes `event`'s line for `table`, then a newline, to `emit`.
    /// - Returns: false for an event that prints no line (`.resync`, `.resumed`).
    public static func write(
        _ table: TableID, _ event: TableSubscription.Event, json: Bool, pieceBytes: Int = pieceBytes,
        to emit: ([UInt8]) -> Void
    ) -> Bool {
        // `Pieces` keeps `emit` only while this line is written.
        withoutActuallyEscaping(emit) { emit in
            var line = Pieces(limit: pieceBytes, emit: emit)
            return line.write(table, event, json: json)
        }
    }

    /// A line's bytes so far, handed on whenever they pass `limit`.
    struct Pieces {
        let limit: Int
        let emit: ([UInt8]) -> Void
        var writer = JSONWriter()
        /// Rows written between checks of the limit.
        static let rowsPerStep = 256

        mutating func write(_ table: TableID, _ event: TableSubscription.Event, json: Bool) -> Bool {
            switch event {
            case .snapshot(let rows, let seq):
                // Printed in order, so that equal tables print equal lines.
                let sorted = rows.sorted { $0.lexicographicallyPrecedes($1) }
                if json {
                    header(table, kind: "snapshot", seq: seq)
                    member("rows", sorted)
                    writer.byte(UInt8(ascii: "}"))
                } else {
                    text("\(table) snapshot seq=\(seq) rows=\(rows.count)")
                    rowLines(table, sorted, prefix: "")
                }
            case .delta(let added, let removed, let seq):
                if json {
                    header(table, kind: "delta", seq: seq)
                    member("added", added)
                    writer.byte(UInt8(ascii: ","))
                    member("removed", removed)
                    writer.byte(UInt8(ascii: "}"))
                } else {
                    text("\(table) delta seq=\(seq)")
                    rowLines(table, removed, prefix: "-")
                    rowLines(table, added, prefix: "+")
                }
            case .resync, .resumed:
                return false
            }
            writer.byte(UInt8(ascii: "\n"))
            flush()
            return true
        }

        mutating func flushIfFull() {
            if writer.bytes.count >= limit { flush() }
        }

        mutating func flush() {
            guard !writer.bytes.isEmpty else { return }
            emit(writer.bytes)
            writer.bytes.removeAll(keepingCapacity: true)
        }

        mutating func text(_ text: String) {
            writer.bytes.append(contentsOf: text.utf8)
        }

        /// `{"table":T,"kind":K,"seq":N,` (the members in the order people read them).
        mutating func header(_ table: TableID, kind: StaticString, seq: UInt64) {
            writer.raw("{\"table\":")
            writer.string(table.description)
            writer.raw(",\"kind\":\"")
            writer.raw(kind)
            writer.raw("\",\"seq\":")
            writer.int(Int64(seq))
            writer.byte(UInt8(ascii: ","))
        }

        /// `"name":[[...],...]`, a step of rows at a time.
        mutating func member(_ name: StaticString, _ rows: [Row]) {
            writer.byte(UInt8(ascii: "\""))
            writer.raw(name)
            writer.raw("\":[")
            var start = 0
            while start < rows.count {
                let end = min(start + Self.rowsPerStep, rows.count)
                writer.rowElements(rows[start..<end], first: start == 0)
                flushIfFull()
                start = end
            }
            writer.byte(UInt8(ascii: "]"))
        }

        /// `\n  +name(v1, v2)` for each row.
        mutating func rowLines(_ table: TableID, _ rows: [Row], prefix: String) {
            for row in rows {
                text("\n  \(prefix)\(table.name)(\(row.map(\.description).joined(separator: ", ")))")
                flushIfFull()
            }
        }
    }
}
