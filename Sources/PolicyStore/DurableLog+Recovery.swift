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
        let decoder = JSONDecoder()
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
            let kind: LogWarning.Kind = end == bytes.count ? .tornTail : .corruptRecord
            guard checksum == stored else {
                scan.damage = damage(kind, "fails its checksum")
                break
            }
            guard let record = try? decoder.decode(LogRecord.self, from: Data(payload)) else {
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
        guard bytes.count >= header.count else {
            // A header cut short can only come from a crash while creating the file.
            guard Array(header.prefix(bytes.count)) == bytes else {
                throw StoreError(.notALog, "\(path) is not a PolicyBus log (bad header)")
            }
            try Posix.writeAll(fd, header, at: 0, path: path)
            try Posix.sync(fd, path: path)
            return ([], header.count, [])
        }
        guard Array(bytes.prefix(header.count)) == header else {
            throw StoreError(.notALog, "\(path) is not a PolicyBus log (bad header)")
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

    /// Keeps the bytes cut from the middle of a log, for an operator to inspect.
    private static func saveRemovedBytes(_ bytes: [UInt8], to path: String, directory: String) throws {
        let fd = try Posix.openFile(path, O_WRONLY | O_CREAT | O_TRUNC)
        defer { Posix.closeFile(fd) }
        try Posix.writeAll(fd, bytes, at: 0, path: path)
        try Posix.sync(fd, path: path)
        try Posix.fsyncDirectory(directory)
    }

    static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }
}
