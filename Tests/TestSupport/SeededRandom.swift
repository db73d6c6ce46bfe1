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
