#if canImport(Glibc)
import Glibc
internal import CMalloc
#endif

/// The process's memory as the allocator and the kernel see it: the live
/// heap (what is allocated now) and the resident set (what the kernel maps).
/// The two differ by what the allocator keeps for reuse; `trim()` hands that
/// back. On platforms without glibc the readings are nil and `trim()` does nothing.
public enum ProcessMemory {
    /// Bytes allocated and not freed, in every arena and in mmapped blocks
    /// (glibc's `mallinfo2`: `uordblks + hblkhd`). It walks the arenas' free
    /// lists, so read it now and then (a status request, the once-a-second
    /// gauges), not per request.
    public static var liveHeapBytes: Int? {
        #if canImport(Glibc)
        let info = mallinfo2()
        return Int(info.uordblks + info.hblkhd)
        #else
        return nil
        #endif
    }

    /// The resident set size, from `/proc/self/statm`.
    public static var residentBytes: Int? {
        #if canImport(Glibc)
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0 else { return nil }
        // "size resident shared ...", in pages.
        let fields = buffer[..<count].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * sysconf(Int32(_SC_PAGESIZE))
        #else
        return nil
        #endif
    }

    /// Returns the allocator's free memory to the kernel (glibc's
    /// `malloc_trim(0)`: the top of each heap and whole free pages inside
    /// them), so that the resident set follows the live heap down after big
    /// state is freed. It walks every arena: call it after such a release,
    /// not on every request.
    public static func trim() {
        #if canImport(Glibc)
        _ = malloc_trim(0)
        #endif
    }
}
