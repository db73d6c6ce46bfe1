/// Strings as values are their Unicode scalars, as Congress's (Python's) are:
/// Swift's `String ==` and `<` follow canonical equivalence, under which
/// `"\u{E9}"` and `"e\u{301}"` are one string, so a policy's `not banned(user)`
/// could be passed by a differently encoded name. UTF-8 bytes order exactly as
/// their scalars do, so both equality and order are byte comparisons.
extension String {
    /// Whether both strings have the same Unicode scalars (the same UTF-8 bytes).
    @inline(__always)
    package func hasSameScalars(as other: String) -> Bool {
        utf8.count == other.utf8.count && String.scalarOrder(self, other) == 0
    }

    /// -1, 0 or 1: `lhs` before, equal to or after `rhs`, by Unicode scalars
    /// (code points), as Python orders strings.
    static func scalarOrder(_ lhs: String, _ rhs: String) -> Int {
        let order = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right in byteOrder(left, right) }
        }
        if let order, let order { return order }
        // Only a string without contiguous UTF-8 (a bridged one) gets here.
        if lhs.utf8.elementsEqual(rhs.utf8) { return 0 }
        return lhs.utf8.lexicographicallyPrecedes(rhs.utf8) ? -1 : 1
    }

    private static func byteOrder(_ left: UnsafeBufferPointer<UInt8>, _ right: UnsafeBufferPointer<UInt8>) -> Int {
        let common = Swift.min(left.count, right.count)
        var index = 0
        // Eight bytes at a time while they agree: most strings compared are equal.
        while index + 8 <= common,
            UnsafeRawPointer(left.baseAddress! + index).loadUnaligned(as: UInt64.self)
                == UnsafeRawPointer(right.baseAddress! + index).loadUnaligned(as: UInt64.self)
        {
            index += 8
        }
        while index < common {
            if left[index] != right[index] { return left[index] < right[index] ? -1 : 1 }
            index += 1
        }
        return left.count == right.count ? 0 : (left.count < right.count ? -1 : 1)
    }

    /// Feeds the UTF-8 bytes to `hasher`: equal scalars, equal hashes. (Swift's
    /// own string hash normalises first: slower, and every canonically
    /// equivalent spelling of a string, of which there can be factorially
    /// many, would share one hash.)
    @inline(__always)
    func hashScalars(into hasher: inout Hasher) {
        let done: Void? = utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil { for byte in utf8 { hasher.combine(byte) } }
        // A terminator that UTF-8 never holds, so that a row's adjacent strings cannot trade bytes.
        hasher.combine(0xFF as UInt8)
    }
}
