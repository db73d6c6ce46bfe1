#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic time in nanoseconds: the clock of every ``PollLoop`` and the
/// time every protocol state machine is fed with.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

extension UInt64 {
    /// Milliseconds as nanoseconds (negative counts as zero).
    public static func milliseconds(_ value: Int) -> UInt64 { UInt64(Swift.max(value, 0)) * 1_000_000 }
}
