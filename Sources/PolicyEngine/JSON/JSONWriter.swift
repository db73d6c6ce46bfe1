/// Writes JSON straight into a byte buffer.
///
/// Hand-written because the publish path encodes one message per delta and
/// must keep up with libzmq; it writes rows of `Value`s without building an
/// intermediate tree. `eval --json` and the durable log write through it too.
public struct JSONWriter: JSONSink {
    /// The bytes written so far.
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Starts empty, taking `buffer`'s storage (and leaving it empty); the
    /// storage is reused when nothing else holds it.
    public init(reusing buffer: inout [UInt8]) {
        bytes = []
        swap(&bytes, &buffer)
        bytes.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    public mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always)
    public mutating func byte(_ value: UInt8) { bytes.append(value) }

    /// Appends what `body` writes, at most `bound` bytes: values are written
    /// through a pointer into temporary memory (on the stack when small),
    /// then appended at once.
    @inline(__always)
    package mutating func write(bound: Int, _ body: (inout JSONOutput) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bound) { buffer in
            var output = JSONOutput(buffer)
            body(&output)
            bytes.append(contentsOf: output.written)
        }
    }

    public mutating func int(_ value: Int64) {
        write(bound: JSONOutput.intBound) { $0.int(value) }
    }

    public mutating func uint(_ value: UInt64) {
        write(bound: JSONOutput.intBound) { $0.uint(value) }
    }

    /// A float always reads back as a float: it keeps a decimal point or an
    /// exponent. JSON has no NaN or infinity, so those are written as the
    /// strings `"NaN"`, `"Infinity"`, `"-Infinity"` (documented in PROTOCOL.md).
    public mutating func float(_ value: Double) {
        write(bound: JSONOutput.floatBound) { $0.float(value) }
    }

    public mutating func string(_ value: String) {
        write(bound: JSONOutput.bound(value)) { $0.string(value) }
    }

    public mutating func value(_ value: Value) {
        write(bound: JSONOutput.bound(value)) { $0.value(value) }
    }

    /// `[v1,v2,...]`
    public mutating func row(_ row: [Value]) {
        write(bound: JSONOutput.bound(row)) { $0.row(row) }
    }

    /// The largest bound written in one step. A bound is the worst case (six
    /// bytes per string byte), so a large table is written a row at a time:
    /// its temporary memory is one row's worst case, not the whole table's.
    package static let largestStep = 1 << 16

    /// `[[...],[...]]`
    public mutating func rows(_ rows: some Collection<[Value]>) {
        // An array's rows are read in place: a generic walk over another
        // module's collection copies (retains) every row it touches.
        if rows.withContiguousStorageIfAvailable({ self.rows(contiguous: $0) }) != nil { return }
        let bound = JSONOutput.bound(rows)
        guard bound > Self.largestStep else {
            write(bound: bound) { $0.rows(rows) }
            return
        }
        array(rows) { $0.row($1) }
    }

    /// Rows in steps of at most `largestStep` bytes (a row longer than that
    /// alone): one temporary buffer per step, not per row.
    mutating func rows(contiguous rows: UnsafeBufferPointer<[Value]>) {
        byte(UInt8(ascii: "["))
        rowElements(rows, first: true)
        byte(UInt8(ascii: "]"))
    }

    /// Rows as elements of an array written a part at a time (no brackets;
    /// a comma before each but the array's first).
    package mutating func rowElements(_ rows: some Collection<[Value]>, first: Bool) {
        if rows.withContiguousStorageIfAvailable({ rowElements($0, first: first) }) != nil { return }
        for (position, row) in rows.enumerated() {
            if !first || position > 0 { byte(UInt8(ascii: ",")) }
            self.row(row)
        }
    }

    private mutating func rowElements(_ rows: UnsafeBufferPointer<[Value]>, first: Bool) {
        var start = 0
        while start < rows.count {
            var end = start
            var bound = 0
            while end < rows.count {
                let next = JSONOutput.bound(rows[end]) + 1
                if end > start && bound + next > Self.largestStep { break }
                bound += next
                end += 1
            }
            write(bound: bound) { output in
                for position in start..<end {
                    if !first || position > 0 { output.byte(UInt8(ascii: ",")) }
                    output.row(rows[position])
                }
            }
            start = end
        }
    }

    public mutating func json(_ json: JSON) {
        switch json {
        case .null: raw("null")
        case .bool(let flag): if flag { raw("true") } else { raw("false") }
        case .int(let number): int(number)
        case .float(let number): float(number)
        case .string(let text): string(text)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { bytes.append(UInt8(ascii: ",")) }
                self.json(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            // Sorted keys: deterministic output for tests and diffs.
            for (position, key) in members.keys.sorted().enumerated() {
                if position > 0 { bytes.append(UInt8(ascii: ",")) }
                string(key)
                bytes.append(UInt8(ascii: ":"))
                self.json(members[key]!)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }
}
