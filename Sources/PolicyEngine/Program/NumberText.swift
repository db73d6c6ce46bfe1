/// Reads a string as a number the way Congress's `int` and `float` builtins
/// do, which call Python's `int(s)` and `float(s)`: surrounding whitespace,
/// a sign, decimal digits of any script, single underscores between digits;
/// for floats also a fraction, an exponent, `inf`, `infinity` and `nan` in
/// any case. Anything else (`"0x10"`, `"1.5"` for `int`, `""`) is nil, as an
/// integer beyond int64 is: such a row does not derive.
enum NumberText {
    static func integer(_ text: String) -> Int64? {
        guard let ascii = asciiNumber(text), isInteger(ascii[...]) else { return nil }
        return Int64(String(decoding: ascii, as: UTF8.self))
    }

    static func float(_ text: String) -> Double? {
        guard let ascii = asciiNumber(text) else { return nil }
        let unsigned = ascii.first == UInt8(ascii: "+") || ascii.first == UInt8(ascii: "-") ? ascii.dropFirst() : ascii[...]
        let word = String(decoding: unsigned, as: UTF8.self).lowercased()
        if word == "inf" || word == "infinity" || word == "nan" {
            let magnitude = word == "nan" ? Double.nan : .infinity
            return ascii.first == UInt8(ascii: "-") ? -magnitude : magnitude
        }
        guard isDecimal(unsigned) else { return nil }
        return Double(String(decoding: ascii, as: UTF8.self))
    }

    /// The text without surrounding whitespace, its digits as ASCII and its
    /// underscores dropped; nil when an underscore is not between two digits
    /// or a character is not ASCII.
    private static func asciiNumber(_ text: String) -> [UInt8]? {
        let scalars = Array(text.unicodeScalars)
        guard let start = scalars.firstIndex(where: { !isSpace($0) }), let end = scalars.lastIndex(where: { !isSpace($0) })
        else { return nil }
        var ascii: [UInt8] = []
        for index in start...end {
            let scalar = scalars[index]
            if let digit = digit(scalar) {
                ascii.append(UInt8(ascii: "0") + digit)
            } else if scalar == "_" {
                guard index > start, index < end, digit(scalars[index - 1]) != nil, digit(scalars[index + 1]) != nil else { return nil }
            } else if scalar.isASCII {
                ascii.append(UInt8(scalar.value))
            } else {
                return nil
            }
        }
        return ascii
    }

    /// A decimal digit of any script (Unicode category Nd), as Python reads them.
    private static func digit(_ scalar: Unicode.Scalar) -> UInt8? {
        guard scalar.properties.numericType == .decimal, let value = scalar.properties.numericValue else { return nil }
        return UInt8(value)
    }

    /// Python's `str.isspace`: White_Space, plus the separators U+001C–U+001F.
    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// `[+-]?[0-9]+`
    private static func isInteger(_ text: ArraySlice<UInt8>) -> Bool {
        let digits = text.first == UInt8(ascii: "+") || text.first == UInt8(ascii: "-") ? text.dropFirst() : text
        return !digits.isEmpty && digits.allSatisfy(isDigit)
    }

    /// `([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?`, unsigned.
    private static func isDecimal(_ text: ArraySlice<UInt8>) -> Bool {
        let exponent = text.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        let mantissa = text[..<(exponent ?? text.endIndex)]
        if let exponent, !isInteger(text[(exponent + 1)...]) { return false }
        let parts = mantissa.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        return parts.allSatisfy { $0.allSatisfy(isDigit) } && parts.contains { !$0.isEmpty }
    }
}
