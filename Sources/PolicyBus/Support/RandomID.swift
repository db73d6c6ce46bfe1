/// A random 64-bit value as 16 lowercase hex digits: publisher epochs and
/// client ids. Not a secret: ids only need to differ between processes.
func randomHexID() -> String {
    var generator = SystemRandomNumberGenerator()
    let hex = String(generator.next() as UInt64, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// A random id for a client: `c` and 16 hex digits.
public func randomClientID() -> String {
    "c" + randomHexID()
}
