/// A recursive-descent JSON parser over UTF-8 bytes. Depth is bounded so
/// that hostile input cannot overflow the stack.
///
/// Its pieces (strings, numbers, `skip`) are also used directly by readers
/// that know their layout and skip the tree: the bus's data messages and the
/// `eval` facts file.
package struct JSONParser {
    package let bytes: [UInt8]
    package var index = 0
    var depth = 0
    static let maxDepth = 64
    /// Most elements of any one array: past it the parse stops there
    /// (`JSONError.elementLimit`), so that a request's bound on its rows
    /// refuses a 16 MiB array of millions without building it.
    package var maxArrayCount = Int.max

    package init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws(JSONError) -> JSON {
        let value = try parseValue()
        try expectEnd()
        return value
    }

    /// Fails unless only whitespace is left.
    package mutating func expectEnd() throws(JSONError) {
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected text after the JSON value") }
    }

    package func fail(_ reason: String) -> JSONError {
        JSONError(reason, at: index, in: bytes)
    }

    package mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// The next byte after whitespace, without consuming it.
    package mutating func peek() throws(JSONError) -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else { throw fail("unexpected end of JSON") }
        return bytes[index]
    }

    /// Consumes `byte` after whitespace, or fails saying what was expected.
    package mutating func expect(_ byte: UInt8, _ what: String) throws(JSONError) {
        guard try peek() == byte else { throw fail("expected \(what)") }
        index += 1
    }

    /// Consumes `literal` if the input continues with it (no whitespace skipped).
    package mutating func skip(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { return false }
        index += count
        return true
    }

    package mutating func parseValue() throws(JSONError) -> JSON {
        switch try peek() {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected character")
        }
    }

    mutating func expectWord(_ word: StaticString) throws(JSONError) {
        guard index + word.utf8CodeUnitCount <= bytes.count else { throw fail("unexpected end of JSON") }
        guard skip(word) else { throw fail("unexpected character") }
    }

    package mutating func enter() throws(JSONError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("JSON nested too deeply") }
    }

    /// After an element of an array or object: true at a `,`, false at the
    /// closing bracket, which ends the container.
    package mutating func next(closing: UInt8) throws(JSONError) -> Bool {
        switch try peek() {
        case UInt8(ascii: ","):
            index += 1
            return true
        case closing:
            index += 1
            depth -= 1
            return false
        default:
            throw fail(closing == UInt8(ascii: "]") ? "expected ',' or ']'" : "expected ',' or '}'")
        }
    }

    /// Consumes the opening bracket; true if the container is empty (and closed).
    package mutating func open(_ opening: UInt8, closing: UInt8) throws(JSONError) -> Bool {
        try enter()
        index += 1
        guard try peek() == closing else { return false }
        index += 1
        depth -= 1
        return true
    }

    /// `"name":`, after whitespace.
    package mutating func parseMemberName() throws(JSONError) -> String {
        guard try peek() == UInt8(ascii: "\"") else { throw fail("expected a member name") }
        let key = try parseString()
        try expect(UInt8(ascii: ":"), "':'")
        return key
    }

    mutating func parseObject() throws(JSONError) -> JSON {
        var members: [String: JSON] = [:]
        if try open(UInt8(ascii: "{"), closing: UInt8(ascii: "}")) { return .object(members) }
        // Room for a request's or a change's few members from the start:
        // growing a dictionary one step at a time hashes every key again.
        // (6 members fill the 8 buckets 4 members grow to anyway.)
        members.reserveCapacity(6)
        repeat {
            let key = try parseMemberName()
            members[key] = try parseValue()
        } while try next(closing: UInt8(ascii: "}"))
        return .object(members)
    }

    mutating func parseArray() throws(JSONError) -> JSON {
        var elements: [JSON] = []
        if try open(UInt8(ascii: "["), closing: UInt8(ascii: "]")) { return .array(elements) }
        repeat {
            try checkArrayCount(elements.count)
            elements.append(try parseValue())
        } while try next(closing: UInt8(ascii: "]"))
        return .array(elements)
    }

    /// Fails when an array that has `count` elements already would get one
    /// more than `maxArrayCount` (`JSONError.elementLimit` says so).
    package func checkArrayCount(_ count: Int) throws(JSONError) {
        guard count < maxArrayCount else {
            var error = fail("an array of more than \(maxArrayCount) elements")
            error.elementLimit = maxArrayCount
            throw error
        }
    }

    /// The member `key` of the object starting here, read member by member so
    /// that damage after it does not matter; nil if it cannot be reached.
    mutating func readableMember(_ key: String) -> JSON? {
        guard (try? peek()) == UInt8(ascii: "{"), (try? open(UInt8(ascii: "{"), closing: UInt8(ascii: "}"))) == false else {
            return nil
        }
        while true {
            guard let name = try? parseMemberName(), let value = try? parseValue() else { return nil }
            if name == key { return value }
            guard (try? next(closing: UInt8(ascii: "}"))) == true else { return nil }
        }
    }

    // MARK: - Numbers

    /// A number starting here: an `.int` when written without a fraction or
    /// exponent, else a `.float`.
    /// - Throws: for an integer outside the int64 range, or a float beyond a finite double.
    package mutating func parseNumber() throws(JSONError) -> JSON {
        let start = index
        var isFloat = false
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        let digitsStart = index
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        guard index > digitsStart else { throw fail("expected a digit") }
        guard !(bytes[digitsStart] == UInt8(ascii: "0") && index - digitsStart > 1) else {
            throw fail("leading zero in a number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isFloat = true
            index += 1
            let fractionStart = index
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            guard index > fractionStart else { throw fail("expected a digit after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isFloat = true
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let exponentStart = index
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            guard index > exponentStart else { throw fail("expected a digit in the exponent") }
        }
        if !isFloat {
            guard let value = integer(digits: digitsStart..<index, negative: start < digitsStart) else {
                index = start
                throw fail("integer out of range: an integer must fit in 64 bits (int64); write a float with a '.' or an exponent")
            }
            return .int(value)
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let value = Double(text) else { throw fail("bad number") }
        // JSON has no infinity: accepting one would put a value on the bus that no client can read back.
        guard value.isFinite else {
            index = start
            throw fail("number out of range")
        }
        return .float(value)
    }

    /// The integer the digits spell, or nil when it does not fit in 64 bits.
    /// Same result as `Int64(text)`, without making a string for every number.
    func integer(digits: Range<Int>, negative: Bool) -> Int64? {
        var value: Int64 = 0
        for position in digits {
            let digit = Int64(bytes[position] &- UInt8(ascii: "0"))
            let (shifted, overflowShift) = value.multipliedReportingOverflow(by: 10)
            // Accumulating negatives reaches Int64.min, which has no positive twin.
            let (next, overflowAdd) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            if overflowShift || overflowAdd { return nil }
            value = next
        }
        return value
    }

    package func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    // MARK: - Strings

    /// A string starting here, at its opening quote.
    package mutating func parseString() throws(JSONError) -> String {
        index += 1  // the opening quote
        let start = index
        // Most strings have no escape: validated and copied in one step, and
        // most are ASCII, which needs no validation (the generic validator
        // costs more than the copy on the millions of short strings of a facts file).
        let (end, high) = bytes.withUnsafeBufferPointer { Self.plainRun($0, from: start) }
        index = end
        guard end < bytes.count, bytes[end] == UInt8(ascii: "\"") else { return try parseEscapedString(from: start) }
        index += 1
        guard high < 0x80 else { return try text(start..<end) }
        return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[start..<end]), as: UTF8.self) }
    }

    /// Where the run of plain string bytes from `start` ends (at a quote, a
    /// backslash, a control character or the end), and the OR of its bytes
    /// (0x80 set: not all ASCII). Eight bytes at a time while none of them
    /// ends the run: a 10 MB string is scanned at memory speed, not byte by
    /// byte through the array's bounds checks.
    package static func plainRun(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> (end: Int, high: UInt8) {
        guard let base = bytes.baseAddress else { return (start, 0) }
        var position = start
        var high: UInt64 = 0
        let ones: UInt64 = 0x0101_0101_0101_0101
        let tops: UInt64 = 0x8080_8080_8080_8080
        while position + 8 <= bytes.count {
            let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
            // A byte is zero in `word ^ (ones * c)` where the byte is c; the
            // classic test flags a zero byte (and, rarely, a false one next to
            // it: then the byte loop below decides). Below 0x20: zero in `word & 0xE0…`.
            func hasByte(_ x: UInt64) -> Bool { (x &- ones) & ~x & tops != 0 }
            if hasByte(word ^ (ones &* 0x22)) || hasByte(word ^ (ones &* 0x5C)) || hasByte(word & (ones &* 0xE0)) { break }
            high |= word
            position += 8
        }
        var highByte: UInt8 = high & tops == 0 ? 0 : 0x80
        while position < bytes.count {
            let byte = base[position]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            highByte |= byte
            position += 1
        }
        return (position, highByte)
    }

    private func text(_ range: Range<Int>) throws(JSONError) -> String {
        let run = bytes.withUnsafeBufferPointer { String(validating: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
        guard let run else { throw JSONError("string is not valid UTF-8", at: range.lowerBound, in: bytes) }
        return run
    }

    private mutating func parseEscapedString(from start: Int) throws(JSONError) -> String {
        var out = try text(start..<index)
        while true {
            let runStart = index
            index = bytes.withUnsafeBufferPointer { Self.plainRun($0, from: runStart) }.end
            out += try text(runStart..<index)
            guard index < bytes.count else { throw fail("unterminated string") }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                return out
            case UInt8(ascii: "\\"):
                index += 1
                try parseEscape(into: &out)
            default:
                throw fail("control character in a string")
            }
        }
    }

    private mutating func parseEscape(into out: inout String) throws(JSONError) {
        guard index < bytes.count else { throw fail("unterminated string") }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""): out += "\""
        case UInt8(ascii: "\\"): out += "\\"
        case UInt8(ascii: "/"): out += "/"
        case UInt8(ascii: "b"): out += "\u{08}"
        case UInt8(ascii: "f"): out += "\u{0C}"
        case UInt8(ascii: "n"): out += "\n"
        case UInt8(ascii: "r"): out += "\r"
        case UInt8(ascii: "t"): out += "\t"
        case UInt8(ascii: "u"):
            var code = try parseHex4()
            if (0xD800..<0xDC00).contains(code) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                else { throw fail("unpaired surrogate") }
                index += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(code) else { throw fail("unpaired surrogate") }
            out.unicodeScalars.append(scalar)
        default:
            index -= 1
            throw fail("bad escape")
        }
    }

    mutating func parseHex4() throws(JSONError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("bad \\u escape") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail("bad \\u escape")
            }
            code = code << 4 | digit
            index += 1
        }
        return code
    }
}
