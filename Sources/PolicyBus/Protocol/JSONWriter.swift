import PolicyEngine

/// Writes JSON straight into a byte buffer.
///
/// Hand-written because the publish path encodes one message per delta and
/// must keep up with libzmq; it writes rows of `Value`s without building an
/// intermediate tree.
public struct JSONWriter {
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

    public mutating func int(_ value: Int64) {
        if value >= 0 && value < 10 {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        // Digits are written backwards into a stack buffer, then appended at once.
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var position = 20
            while magnitude > 0 {
                let (quotient, digit) = magnitude.quotientAndRemainder(dividingBy: 10)
                position &-= 1
                buffer[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: digit)
                magnitude = quotient
            }
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[position..<20]))
        }
    }

    public mutating func uint(_ value: UInt64) {
        if value <= UInt64(Int64.max) {
            int(Int64(value))
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }

    /// A float always reads back as a float: it keeps a decimal point or an
    /// exponent. JSON has no NaN or infinity, so those are written as the
    /// strings `"NaN"`, `"Infinity"`, `"-Infinity"` (documented in PROTOCOL.md).
    public mutating func float(_ value: Double) {
        guard value.isFinite else {
            string(value.isNaN ? "NaN" : (value < 0 ? "-Infinity" : "Infinity"))
            return
        }
        let text = value.description
        bytes.append(contentsOf: text.utf8)
        if !text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") }) {
            raw(".0")
        }
    }

    public mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var runStart = 0
            for (offset, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<offset]))
                runStart = offset + 1
                switch byte {
                case 0x22: raw("\\\"")
                case 0x5C: raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    raw("\\u00")
                    let hex: StaticString = "0123456789abcdef"
                    bytes.append(hex.utf8Start[Int(byte >> 4)])
                    bytes.append(hex.utf8Start[Int(byte & 0xF)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func value(_ value: Value) {
        switch value {
        case .int(let number): int(number)
        case .float(let number): float(number)
        case .string(let text): string(text)
        }
    }

    /// `[v1,v2,...]`
    public mutating func row(_ row: [Value]) {
        bytes.append(UInt8(ascii: "["))
        for (position, element) in row.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            value(element)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// `[[...],[...]]`
    public mutating func rows(_ rows: some Sequence<[Value]>) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for element in rows {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            row(element)
        }
        bytes.append(UInt8(ascii: "]"))
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

extension JSON {
    /// The value as compact JSON text, keys sorted.
    public var text: String {
        var writer = JSONWriter()
        writer.json(self)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Converts a table value to JSON.
    public init(_ value: Value) {
        switch value {
        case .int(let number): self = .int(number)
        case .float(let number): self = .float(number)
        case .string(let text): self = .string(text)
        }
    }

    /// Converts rows to a JSON array of arrays.
    public init(rows: some Sequence<[Value]>) {
        self = .array(rows.map { .array($0.map(JSON.init)) })
    }
}
