/// SplitMix64: small, seedable, and the same on every platform, so a property
/// test that fails can be replayed from the seed it printed. The one
/// generator every test target uses; each test prints its own seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SeededRandom {
    /// The integers where readers go wrong: the ends of the int64 range, the
    /// powers of ten where a float loses digits, the float-exact limit 2^53.
    public static let edgeIntegers: [Int64] = [
        .min, .min + 1, -1_000_000_000_000_000_000, -(1 << 53) - 1, -(1 << 53), -1, 0, 1,
        1 << 53, (1 << 53) + 1, 999_999_999_999_999_999, 1_000_000_000_000_000_000, .max - 1, .max,
    ]

    /// An integer from the whole int64 range, an edge one time in four.
    public mutating func int64() -> Int64 {
        if next() % 4 == 0 { return Self.edgeIntegers.randomElement(using: &self)! }
        // Uniform bits, then a random shift, so small and large magnitudes both occur.
        return Int64(bitPattern: next()) >> (next() % 64)
    }
}

extension SeededRandom {
    /// Pieces of strings where readers go wrong: canonically equivalent
    /// spellings (é, e + U+0301; Å, Å (U+212B), A + U+030A; Ω (U+2126), Ω;
    /// Hangul syllable and jamo), compatibility characters (ﬁ, Ａ, ①),
    /// combining marks alone, emoji ZWJ sequences, flags and skin tones, the
    /// astral planes up to U+10FFFF, and what JSON and policy text escape.
    public static let trickyPieces: [String] = [
        "a", "e", "f", "A", "\u{E9}", "e\u{301}", "\u{301}", "\u{327}", "\u{C5}", "\u{212B}", "A\u{30A}", "\u{2126}",
        "\u{3A9}", "\u{AC00}", "\u{1100}\u{1161}", "\u{FB01}", "fi", "\u{FF21}", "\u{2460}", "1",
        "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}", "\u{1F468}", "\u{200D}", "\u{1F44D}\u{1F3FB}", "\u{1F1EB}\u{1F1F7}",
        "\u{1D11E}", "\u{10FFFF}", "\u{E000}", "\u{FEFF}", "\u{FFFF}", "\u{7F}", "\u{1}", "\n", "\t", "\"", "\\", " ",
    ]

    /// A string of up to `maxPieces` tricky pieces (possibly empty).
    public mutating func trickyString(maxPieces: Int = 4) -> String {
        (0..<Int.random(in: 0...maxPieces, using: &self)).map { _ in Self.trickyPieces.randomElement(using: &self)! }.joined()
    }
}

/// Python's order of strings: by code point. (UTF-8 bytes order the same way.)
public func precedesByCodePoints(_ lhs: String, _ rhs: String) -> Bool {
    lhs.unicodeScalars.map(\.value).lexicographicallyPrecedes(rhs.unicodeScalars.map(\.value))
}

/// Whether two strings have the same Unicode scalars (Swift's `==` compares
/// canonical equivalence instead).
public func sameScalars(_ lhs: String, _ rhs: String) -> Bool {
    lhs.unicodeScalars.elementsEqual(rhs.unicodeScalars)
}

/// `text` as a JSON string literal with every non-ASCII scalar escaped as
/// `\uXXXX` (a surrogate pair beyond the BMP): the other spelling a JSON reader must accept.
public func jsonEscapedEverywhere(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        if scalar.isASCII, scalar.value >= 0x20, scalar != "\"", scalar != "\\" {
            out.unicodeScalars.append(scalar)
        } else {
            for unit in String(scalar).utf16 { out += "\\u" + String(repeating: "0", count: 4 - String(unit, radix: 16).count) + String(unit, radix: 16) }
        }
    }
    return out + "\""
}
