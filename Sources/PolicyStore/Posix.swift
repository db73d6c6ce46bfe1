#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin wrappers over the system calls the log needs. Each turns a failure into
/// a ``StoreError`` at once, reading `errno` before anything else runs, and
/// retries `EINTR`. Package-wide: CURVE key files (PolicyBus) use them too.
package enum Posix {
    package static func fail(_ function: String, _ path: String) -> StoreError {
        let code = errno
        return StoreError(.io, "\(function)(\(path)): \(String(cString: strerror(code)))", errno: code)
    }

    package static func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws -> Int32 {
        while true {
            let fd = open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw fail("open", path) }
        }
    }

    package static func closeFile(_ fd: Int32) {
        // Linux releases the descriptor even when close fails; retrying could
        // close a descriptor another thread just opened.
        _ = close(fd)
    }

    package static func readAll(_ fd: Int32, path: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var offset: off_t = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if count < 0 {
                if errno == EINTR { continue }
                throw fail("pread", path)
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            offset += off_t(count)
        }
    }

    package static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes {
                pwrite(fd, $0.baseAddress! + written, $0.count - written, off_t(offset + written))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw fail("pwrite", path)
            }
            written += count
        }
    }

    package static func sync(_ fd: Int32, path: String) throws {
        while fsync(fd) != 0 {
            if errno != EINTR { throw fail("fsync", path) }
        }
    }

    package static func truncate(_ fd: Int32, to size: Int, path: String) throws {
        while ftruncate(fd, off_t(size)) != 0 {
            if errno != EINTR { throw fail("ftruncate", path) }
        }
    }

    package static func renameFile(_ from: String, _ to: String) throws {
        if rename(from, to) != 0 { throw fail("rename", from) }
    }

    /// Makes a rename or a new file in `directory` durable.
    package static func fsyncDirectory(_ directory: String) throws {
        let fd = try openFile(directory, O_RDONLY | O_DIRECTORY)
        defer { closeFile(fd) }
        try sync(fd, path: directory)
    }

    /// Creates `path` and any missing parents, with mode 0700, and fsyncs the
    /// parent of each one it creates: without that, a power cut could lose the
    /// new directory, and with it records already fsync'd inside it.
    package static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            let parent = current.isEmpty ? "/" : current
            current += "/" + part
            if mkdir(current, 0o700) == 0 {
                try fsyncDirectory(parent)
            } else if errno != EEXIST {
                throw fail("mkdir", current)
            }
        }
    }

    /// Takes an exclusive lock on `fd`, failing at once if another process holds it.
    package static func lockExclusively(_ fd: Int32, path: String) throws {
        // A lock can look held for a moment after its holder closed it: a child
        // process forked by another thread shares the open file until it execs
        // (O_CLOEXEC closes it only then). So retry briefly before refusing.
        var attempts = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK {
                attempts += 1
                if attempts < 50 {
                    usleep(10_000)
                    continue
                }
                throw StoreError(.locked, "\(path) is held by another process; is another engine using this data directory?")
            }
            throw fail("flock", path)
        }
    }
}
