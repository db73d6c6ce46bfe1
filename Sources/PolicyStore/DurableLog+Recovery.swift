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

extension DurableLog {
    /// The result of reading a log file's bytes.
    struct Scan {
        var records: [LogRecord] = []
        /// The end of the last good record.
        var end: Int
        /// The first damage found; nothing after it was read.
        var damage: Damage?
    }

    struct Damage {
        var warning: LogWarning
        /// Whether good-looking data follows the bad record, so that it is not
        /// simply the torn end of a crashed append.
        var isInTheMiddle: Bool { warning.kind == .corruptRecord }
    }

    /// Reads records from `bytes`, a whole log file with its header, and stops
    /// at the first damaged record.
    static func scan(_ bytes: [UInt8]) -> Scan {
        var scan = Scan(end: header.count)
        var offset = header.count
        func damage(_ kind: LogWarning.Kind, _ why: String) -> Damage {
            let removed = bytes.count - offset
            let message: String
            switch kind {
            case .tornTail:
                message = "the last record \(why): an append was interrupted; removed \(removed) bytes, kept \(scan.records.count) records"
            case .corruptRecord:
                message = "a record in the middle of the log \(why); kept the \(scan.records.count) records before it, removed \(removed) bytes"
            }
            return Damage(warning: LogWarning(kind: kind, offset: offset, bytesRemoved: removed, message: message))
        }
        while offset < bytes.count {
            guard bytes.count - offset >= recordHeaderSize else {
                scan.damage = damage(.tornTail, "has an incomplete header")
                break
            }
            let length = Int(readUInt32(bytes, at: offset))
            let stored = readUInt32(bytes, at: offset + 4)
            let end = offset + recordHeaderSize + length
            guard length <= maxRecordSize, end <= bytes.count else {
                scan.damage = damage(.tornTail, "claims \(length) bytes but the file ends first")
                break
            }
            let payload = bytes[(offset + recordHeaderSize)..<end]
            let checksum = CRC32C.update(CRC32C.checksum(bytes[offset..<(offset + 4)]), payload)
            // Only zeros after a bad record are no sign of later records: a
            // crash can leave a file extended by zero-filled blocks whose data
            // never reached the disk.
            let kind: LogWarning.Kind = isZero(bytes[end...]) ? .tornTail : .corruptRecord
            guard checksum == stored else {
                scan.damage = damage(kind, "fails its checksum")
                break
            }
            guard let record = try? LogRecord(decoding: payload) else {
                scan.damage = damage(kind, "has a good checksum but is not a record this version understands")
                break
            }
            scan.records.append(record)
            offset = end
            scan.end = end
        }
        return scan
    }

    /// Reads the log open on `fd`, checks its header, and repairs damage.
    static func openAndRepair(fd: Int32, path: String, directory: String) throws
        -> (records: [LogRecord], end: Int, warnings: [LogWarning])
    {
        let bytes = try Posix.readAll(fd, path: path)
        // The log is created whole, header included, by a rename, so no crash
        // of ours leaves it shorter than its header: a short or empty file was
        // cut by something else, and starting empty would silently drop every
        // change ever accepted.
        guard bytes.count >= header.count else {
            throw StoreError(
                .notALog,
                "\(path) is \(bytes.count) bytes, shorter than the \(header.count)-byte log header: "
                    + "something other than the engine truncated it (the engine writes a log whole, header first). \(wayOut)")
        }
        guard Array(bytes.prefix(header.count)) == header else {
            throw StoreError(.notALog, "\(path) is not a PolicyBus log (bad header). \(wayOut)")
        }
        let scan = scan(bytes)
        guard var damage = scan.damage else { return (scan.records, scan.end, []) }
        if damage.isInTheMiddle {
            let saved = directory + "/corrupt-\(scan.end)-\(time(nil)).bin"
            try saveRemovedBytes(Array(bytes[scan.end...]), to: saved, directory: directory)
            damage.warning.savedTo = saved
            damage.warning.message += "; saved them to \(saved)"
        }
        try Posix.truncate(fd, to: scan.end, path: path)
        try Posix.sync(fd, path: path)
        return (scan.records, scan.end, [damage.warning])
    }

    /// What an operator can do about a log that cannot be opened.
    static let wayOut =
        "Restore policy.log from a backup, or, to start with no accepted rules or facts, move it out of the data directory (the engine then creates a new one)."

    /// Keeps the bytes cut from the middle of a log, for an operator to inspect.
    private static func saveRemovedBytes(_ bytes: [UInt8], to path: String, directory: String) throws {
        let fd = try Posix.openFile(path, O_WRONLY | O_CREAT | O_TRUNC)
        defer { Posix.closeFile(fd) }
        try Posix.writeAll(fd, bytes, at: 0, path: path)
        try Posix.sync(fd, path: path)
        try Posix.fsyncDirectory(directory)
    }

    static func isZero(_ bytes: ArraySlice<UInt8>) -> Bool {
        !bytes.contains { $0 != 0 }
    }

    static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }
}
