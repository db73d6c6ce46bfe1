#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CoreMetrics
import Dispatch
import Synchronization

/// An append-only log of the changes an engine accepted, kept durable with fsync.
///
/// The directory holds `policy.log` and a `lock` file; an exclusive `flock` on
/// the lock keeps a second process out. The log is an 8-byte header
/// (`PBLOG\0\0\u{1}`) followed by records:
///
///     length   UInt32, little-endian: the payload's size in bytes
///     checksum UInt32, little-endian: CRC-32C of the 4 length bytes, then the payload
///     payload  one ``LogRecord`` as UTF-8 JSON
///
/// Opening the log checks every record. A damaged last record (a crash in the
/// middle of an append, perhaps followed by zero-filled blocks) is truncated
/// away; damage followed by more data is saved to a `corrupt-OFFSET.bin` file
/// and cut off. Either way the records before it are kept, and ``replay()``
/// reports what happened. A file shorter than its header, or with a wrong
/// header, is never repaired: opening it throws `not-a-log`.
///
/// All methods block on disk I/O: call them from a thread of your own, not from
/// the cooperative thread pool. The log is safe to share between threads.
public final class DurableLog: Sendable {
    /// The largest payload one record may have.
    public static let maxRecordSize = 64 << 20

    /// The data directory.
    public let directory: String
    /// The log file inside ``directory``.
    public var path: String { directory + "/" + DurableLog.logName }

    static let logName = "policy.log"
    static let header: [UInt8] = Array("PBLOG".utf8) + [0, 0, 1]
    static let recordHeaderSize = 8

    private let state: Mutex<State>
    /// How long each fsync of the log took; what a durable request waits for.
    private let fsyncTimer = CoreMetrics.Timer(label: "policybus_log_fsync_seconds")

    struct State {
        /// The log file, or -1 once closed.
        var fd: Int32
        /// The descriptor that holds the directory's lock, or -1 once closed.
        var lockFD: Int32
        /// The end of the last good record: where the next append goes.
        var size: Int
        var recordCount: Int
        /// False after a failed write or fsync: the file's state is unknown.
        var usable = true
        /// The repairs made when the log was opened.
        var openingWarnings: [LogWarning]
        /// Records read when the log was opened, handed to the first `replay()`
        /// so that start-up decodes the log once.
        var unreplayed: [LogRecord]?
        /// How many fsyncs of the log file have completed; tests read it.
        var syncCount = 0
    }

    /// Opens, or creates, the log in `directory`, and repairs a damaged tail.
    ///
    /// The directory and its parents are created with mode 0700 if missing.
    /// - Parameter directory: the data directory, e.g. from
    ///   ``DataDirectory/defaultPath(name:environment:)``.
    /// - Throws: ``StoreError`` with code `locked` when another process uses
    ///   the directory, `not-a-log` when `policy.log` is some other file or
    ///   is shorter than the header (empty, truncated), or `io`.
    public init(directory: String) throws {
        self.directory = directory
        try Posix.makeDirectories(directory)
        let lockPath = directory + "/lock"
        let lockFD = try Posix.openFile(lockPath, O_RDWR | O_CREAT)
        var fd: Int32 = -1
        do {
            try Posix.lockExclusively(lockFD, path: lockPath)
            let path = directory + "/" + DurableLog.logName
            if access(path, F_OK) != 0 {
                try DurableLog.writeFile(path, records: [], directory: directory)
            }
            fd = try Posix.openFile(path, O_RDWR)
            let opened = try DurableLog.openAndRepair(fd: fd, path: path, directory: directory)
            state = Mutex(
                State(
                    fd: fd, lockFD: lockFD, size: opened.end, recordCount: opened.records.count,
                    openingWarnings: opened.warnings, unreplayed: opened.records))
        } catch {
            if fd >= 0 { Posix.closeFile(fd) }
            Posix.closeFile(lockFD)
            throw error
        }
    }

    deinit {
        close()
    }

    /// Closes the log and releases the directory's lock. Later calls throw
    /// `unusable`. Closing twice is harmless.
    public func close() {
        state.withLock { state in
            if state.fd >= 0 { Posix.closeFile(state.fd) }
            if state.lockFD >= 0 { Posix.closeFile(state.lockFD) }
            state.fd = -1
            state.lockFD = -1
            state.usable = false
        }
    }

    /// The number of records in the log.
    public var recordCount: Int { state.withLock { $0.recordCount } }

    /// The size of the log file in bytes.
    public var byteCount: Int { state.withLock { $0.size } }

    var syncCount: Int { state.withLock { $0.syncCount } }

    // MARK: - Reading

    /// Every good record in the log, in the order they were appended, and the
    /// damage found and repaired when the log was opened.
    ///
    /// Apply the records in order to rebuild the engine's accepted state, and
    /// log the warnings.
    /// - Throws: ``StoreError`` when the file cannot be read.
    public func replay() throws -> (records: [LogRecord], warnings: [LogWarning]) {
        try state.withLock { state in
            try DurableLog.checkUsable(state, path)
            if let records = state.unreplayed {
                state.unreplayed = nil
                return (records, state.openingWarnings)
            }
            let scan = DurableLog.scan(try Posix.readAll(state.fd, path: path))
            // Damage found now appeared after opening; report it, repair nothing.
            return (scan.records, state.openingWarnings + (scan.damage.map { [$0.warning] } ?? []))
        }
    }

    // MARK: - Writing

    /// Appends `records` and makes them durable with one fsync before returning.
    ///
    /// Reply to the client only after this returns. After a failed fsync the
    /// log refuses further writes (`unusable`): the kernel may have dropped the
    /// unwritten pages, so only reopening can say what is on disk.
    /// - Throws: ``StoreError``; the log then holds none of `records` unless the
    ///   failure was the fsync.
    public func append(_ records: [LogRecord]) throws {
        guard !records.isEmpty else { return }
        let bytes = try DurableLog.frame(records)
        try state.withLock { state in
            try DurableLog.checkUsable(state, path)
            state.unreplayed = nil
            do {
                try Posix.writeAll(state.fd, bytes, at: state.size, path: path)
            } catch {
                // Cut the partial write so that the next append follows a good record.
                do { try Posix.truncate(state.fd, to: state.size, path: path) } catch { state.usable = false }
                throw error
            }
            do {
                let start = DispatchTime.now().uptimeNanoseconds
                try Posix.sync(state.fd, path: path)
                fsyncTimer.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
            } catch {
                state.usable = false
                throw error
            }
            state.syncCount += 1
            state.size += bytes.count
            state.recordCount += records.count
        }
    }

    /// Appends one record durably; see ``append(_:)-([LogRecord])``.
    public func append(_ record: LogRecord) throws {
        try append([record])
    }

    /// Replaces the whole log with `records`, atomically: the new log is written
    /// to a temporary file, fsync'd, renamed over the old one, and the directory
    /// is fsync'd. A crash at any point leaves either the old log or the new.
    /// - Parameter records: the engine's state as a minimal list of records, e.g.
    ///   ``LogRecord/compacted(_:)`` of ``replay()``.
    public func rewrite(_ records: [LogRecord]) throws {
        try state.withLock { state in
            try DurableLog.checkUsable(state, path)
            try DurableLog.writeFile(path, records: records, directory: directory)
            // The old descriptor now points at the replaced file.
            Posix.closeFile(state.fd)
            state.fd = -1
            state.usable = false
            state.fd = try Posix.openFile(path, O_RDWR)
            var size = stat()
            guard fstat(state.fd, &size) == 0 else { throw Posix.fail("fstat", path) }
            state.size = Int(size.st_size)
            state.recordCount = records.count
            state.unreplayed = nil
            state.syncCount += 1
            state.usable = true
        }
    }

    /// Rewrites the log as ``LogRecord/compacted(_:)`` of its records.
    /// - Returns: the number of records before and after.
    @discardableResult
    public func compact() throws -> (before: Int, after: Int) {
        let records = try replay().records
        let compacted = LogRecord.compacted(records)
        try rewrite(compacted)
        return (records.count, compacted.count)
    }

    /// Compacts the log when it is at least `minimumBytes` long and compaction
    /// would drop at least half of its records. Call it at start, after
    /// ``replay()``: it reads the whole log.
    /// - Returns: the record counts before and after, or nil if it did nothing.
    @discardableResult
    public func compactIfWorthwhile(minimumBytes: Int = 1 << 20) throws -> (before: Int, after: Int)? {
        guard byteCount >= minimumBytes else { return nil }
        let records = try replay().records
        let compacted = LogRecord.compacted(records)
        guard compacted.count * 2 <= records.count else { return nil }
        try rewrite(compacted)
        return (records.count, compacted.count)
    }

    // MARK: - Helpers

    private static func checkUsable(_ state: State, _ path: String) throws {
        guard state.usable, state.fd >= 0 else {
            throw StoreError(.unusable, "\(path) is closed or failed an earlier write; reopen it")
        }
    }

    /// Encodes and frames records: length, checksum, payload.
    static func frame(_ records: [LogRecord]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for record in records {
            let payload = record.encoded()
            guard payload.count <= maxRecordSize else {
                throw StoreError(.recordTooLarge, "a record of \(payload.count) bytes exceeds the limit of \(maxRecordSize)")
            }
            let length = littleEndianBytes(UInt32(payload.count))
            bytes += length
            bytes += littleEndianBytes(CRC32C.update(CRC32C.checksum(length), payload))
            bytes += payload
        }
        return bytes
    }

    /// Writes a complete log to a temporary file and renames it into place.
    private static func writeFile(_ path: String, records: [LogRecord], directory: String) throws {
        let bytes = header + (try frame(records))
        let temporary = path + ".tmp"
        let fd = try Posix.openFile(temporary, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            defer { Posix.closeFile(fd) }
            try Posix.writeAll(fd, bytes, at: 0, path: temporary)
            try Posix.sync(fd, path: temporary)
            try Posix.renameFile(temporary, path)
        } catch {
            unlink(temporary)
            throw error
        }
        try Posix.fsyncDirectory(directory)
    }

    static func littleEndianBytes(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF), UInt8((value >> 16) & 0xFF), UInt8(value >> 24)]
    }
}
