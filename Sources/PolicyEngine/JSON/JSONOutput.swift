/// What both JSON writers offer, for code that writes through either.
package protocol JSONSink {
    mutating func byte(_ value: UInt8)
    mutating func raw(_ text: StaticString)
    mutating func uint(_ value: UInt64)
    mutating func row(_ row: [Value])
    mutating func rows(_ rows: some Collection<[Value]>)
}

extension JSONSink {
    /// `[e1,e2,...]`, each element written by `element`: the one array loop
    /// of both writers.
    @inline(__always)
    mutating func array<Elements: Collection>(_ elements: Elements, _ element: (inout Self, Elements.Element) -> Void) {
        byte(UInt8(ascii: "["))
        var first = true
        for item in elements {
            if !first { byte(UInt8(ascii: ",")) }
            first = false
            element(&self, item)
        }
        byte(UInt8(ascii: "]"))
    }
}

/// Writes JSON values through a raw pointer into memory sized beforehand.
///
/// `JSONWriter` appends to an array, which checks capacity and uniqueness on
/// every byte; on the publish path that was about half the cost of a delta.
/// Here the caller reserves an upper bound (`JSONOutput.bound`) once, and
/// every byte is a plain store.
package struct JSONOutput: JSONSink {
    private let start: UnsafeMutablePointer<UInt8>
    /// Bytes written so far.
    private(set) var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        start = buffer.baseAddress!
    }

    var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: start, count: count) }

    // MARK: - Bounds

    /// The most bytes an integer takes: an `Int64`'s sign and 19 digits, or
    /// a `UInt64`'s 20 digits.
    package static let intBound = 20
    /// The most bytes a float takes: `Double.description` is at most 24
    /// characters, plus `.0`; the non-finite strings are shorter.
    package static let floatBound = 32

    package static func bound(_ value: Value) -> Int {
        switch value {
        case .int: intBound
        case .float: floatBound
        case .string(let text): bound(text)
        }
    }

    /// Each byte escapes to at most six (`\u00XX`), plus the quotes.
    package static func bound(_ text: String) -> Int { text.utf8.count * 6 + 2 }

    package static func bound(_ row: [Value]) -> Int {
        var total = row.count + 2  // brackets and commas
        for value in row { total += bound(value) }
        return total
    }

    package static func bound(_ rows: some Sequence<[Value]>) -> Int {
        if let total = rows.withContiguousStorageIfAvailable({ bound(contiguous: $0) }) { return total }
        var total = 2
        for row in rows { total += bound(row) + 1 }
        return total
    }

    /// `bound(_:)` of an array's rows, read in place.
    static func bound(contiguous rows: UnsafeBufferPointer<[Value]>) -> Int {
        var total = 2
        for row in rows { total += bound(row) + 1 }
        return total
    }

    // MARK: - Writing

    @inline(__always)
    package mutating func byte(_ value: UInt8) {
        start[count] = value
        count &+= 1
    }

    @inline(__always)
    package mutating func raw(_ text: StaticString) {
        (start + count).update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        count &+= text.utf8CodeUnitCount
    }

    mutating func bytes(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard let base = buffer.baseAddress else { return }
        (start + count).update(from: base, count: buffer.count)
        count &+= buffer.count
    }

    package mutating func int(_ value: Int64) {
        if value < 0 { byte(UInt8(ascii: "-")) }
        uint(value.magnitude)
    }

    /// Two digits per step, from a table, written straight into place.
    package mutating func uint(_ value: UInt64) {
        var rest = value
        count &+= Self.digitCount(rest)
        var position = count
        let pairs = Self.digitPairs.utf8Start
        while rest >= 100 {
            let (quotient, pair) = rest.quotientAndRemainder(dividingBy: 100)
            position &-= 2
            start[position] = pairs[Int(pair) &* 2]
            start[position &+ 1] = pairs[Int(pair) &* 2 &+ 1]
            rest = quotient
        }
        if rest >= 10 {
            start[position &- 2] = pairs[Int(rest) &* 2]
            start[position &- 1] = pairs[Int(rest) &* 2 &+ 1]
        } else {
            start[position &- 1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest)
        }
    }

    static func digitCount(_ value: UInt64) -> Int {
        var digits = 1
        var rest = value
        while rest >= 10_000 {
            rest /= 10_000
            digits &+= 4
        }
        if rest >= 1000 { return digits &+ 3 }
        if rest >= 100 { return digits &+ 2 }
        if rest >= 10 { return digits &+ 1 }
        return digits
    }

    private static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    /// A float always reads back as a float: it keeps a decimal point or an
    /// exponent. JSON has no NaN or infinity, so those are written as the
    /// strings `"NaN"`, `"Infinity"`, `"-Infinity"` (documented in PROTOCOL.md).
    package mutating func float(_ value: Double) {
        guard value.isFinite else {
            string(value.isNaN ? "NaN" : (value < 0 ? "-Infinity" : "Infinity"))
            return
        }
        var text = value.description
        var isIntegral = true
        text.withUTF8 { utf8 in
            bytes(utf8)
            isIntegral = !utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") }
        }
        if isIntegral { raw(".0") }
    }

    package mutating func string(_ value: String) {
        byte(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var runStart = 0
            for (offset, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                bytes(UnsafeBufferPointer(rebasing: utf8[runStart..<offset]))
                runStart = offset + 1
                escape(byte)
            }
            bytes(UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        byte(UInt8(ascii: "\""))
    }

    private mutating func escape(_ character: UInt8) {
        switch character {
        case 0x22: raw("\\\"")
        case 0x5C: raw("\\\\")
        case 0x0A: raw("\\n")
        case 0x0D: raw("\\r")
        case 0x09: raw("\\t")
        default:
            raw("\\u00")
            let hex: StaticString = "0123456789abcdef"
            byte(hex.utf8Start[Int(character >> 4)])
            byte(hex.utf8Start[Int(character & 0xF)])
        }
    }

    @inline(__always)
    package mutating func value(_ value: Value) {
        switch value {
        case .int(let number): int(number)
        case .float(let number): float(number)
        case .string(let text): string(text)
        }
    }

    /// `[v1,v2,...]`
    package mutating func row(_ row: [Value]) {
        array(row) { $0.value($1) }
    }

    /// `[[...],[...]]`
    package mutating func rows(_ rows: some Collection<[Value]>) {
        if rows.withContiguousStorageIfAvailable({ buffer in array(buffer) { $0.row($1) } }) != nil { return }
        array(rows) { $0.row($1) }
    }
}
