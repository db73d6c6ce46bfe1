import Foundation
import PolicyEngine
@testable import PolicyStore
import Testing
import TestSupport

/// Damage a crash or a bad disk can leave, and what opening the log makes of it.
@Suite struct DurableLogRecoveryTests {
    static let records = DurableLogTests.sample

    /// A log file holding `records`, and the offset where each record starts.
    static func makeLogBytes(_ records: [LogRecord]) throws -> (bytes: [UInt8], starts: [Int]) {
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir)
            var starts: [Int] = []
            for record in records {
                starts.append(log.byteCount)
                try log.append(record)
            }
            log.close()
            return (try readBytes(dir + "/policy.log"), starts)
        }
    }

    /// Opens a log made of `bytes` in a fresh directory and hands it to `body`.
    static func withLog<T>(of bytes: [UInt8], _ body: (DurableLog, String) throws -> T) throws -> T {
        try withTemporaryDirectory { dir in
            try writeBytes(bytes, to: dir + "/policy.log")
            let log = try DurableLog(directory: dir)
            defer { log.close() }
            return try body(log, dir)
        }
    }

    @Test func tornLastRecordIsCutAtEveryOffsetAndEarlierRecordsKept() throws {
        let (bytes, starts) = try Self.makeLogBytes(Self.records)
        let lastStart = try #require(starts.last)
        let earlier = Array(Self.records.dropLast())
        for cut in lastStart..<bytes.count {
            try Self.withLog(of: Array(bytes.prefix(cut))) { log, dir in
                let replay = try log.replay()
                #expect(replay.records == earlier, "cut at \(cut)")
                if cut == lastStart {
                    #expect(replay.warnings.isEmpty, "cut at \(cut)")
                } else {
                    #expect(replay.warnings.map(\.kind) == [.tornTail], "cut at \(cut)")
                    #expect(replay.warnings.first?.offset == lastStart)
                    #expect(replay.warnings.first?.bytesRemoved == cut - lastStart)
                }
                #expect(try readBytes(dir + "/policy.log").count == lastStart, "truncated, cut at \(cut)")

                // The repaired log takes appends, and they survive reopening.
                try log.append(.createPolicy(name: "after"))
                log.close()
                let reopened = try DurableLog(directory: dir)
                defer { reopened.close() }
                let again = try reopened.replay()
                #expect(again.records == earlier + [.createPolicy(name: "after")], "cut at \(cut)")
                #expect(again.warnings.isEmpty)
            }
        }
    }

    /// The log is created whole by a rename, so a file shorter than its header
    /// was cut by something else; starting empty would drop every record.
    @Test func aFileShorterThanTheHeaderIsRefusedAndLeftAsItWas() throws {
        for cut in 0..<DurableLog.header.count {
            let bytes = Array(DurableLog.header.prefix(cut))
            try withTemporaryDirectory { dir in
                try writeBytes(bytes, to: dir + "/policy.log")
                let error = #expect(throws: StoreError.self, "\(cut) bytes") { try DurableLog(directory: dir) }
                #expect(error?.code == .notALog)
                #expect(error?.message.contains("shorter than the 8-byte log header") == true, "\(cut) bytes")
                #expect(error?.message.contains("move it out of the data directory") == true)
                #expect(try readBytes(dir + "/policy.log") == bytes, "untouched, \(cut) bytes")
                // The lock was released: after the operator moves the file away, the log opens.
                try FileManager.default.removeItem(atPath: dir + "/policy.log")
                let log = try DurableLog(directory: dir)
                defer { log.close() }
                #expect(try log.replay().records.isEmpty)
            }
        }
    }

    /// A crash can leave the file extended by zero-filled blocks: a torn tail,
    /// whether the zeros follow a whole record or a partly written one.
    @Test(arguments: [0, 5, 40])
    func aZeroFilledTailIsATornTail(writtenOfLast: Int) throws {
        let (bytes, starts) = try Self.makeLogBytes(Self.records)
        let lastStart = try #require(starts.last)
        // Keep `writtenOfLast` bytes of the last record (0: none of it), then 4 KiB of zeros.
        let kept = writtenOfLast == 0 ? bytes.count : lastStart + writtenOfLast
        let goodEnd = writtenOfLast == 0 ? bytes.count : lastStart
        let damaged = Array(bytes.prefix(kept)) + [UInt8](repeating: 0, count: 4096)
        try Self.withLog(of: damaged) { log, dir in
            let replay = try log.replay()
            #expect(replay.records == Array(Self.records.prefix(writtenOfLast == 0 ? Self.records.count : Self.records.count - 1)))
            let warning = try #require(replay.warnings.first)
            #expect(replay.warnings.count == 1)
            #expect(warning.kind == .tornTail)
            #expect(warning.offset == goodEnd)
            #expect(warning.bytesRemoved == damaged.count - goodEnd)
            #expect(warning.savedTo == nil)
            #expect(try readBytes(dir + "/policy.log").count == goodEnd)
        }
    }

    /// Zeros followed by anything else are not a tail: the data after them is saved.
    @Test func zerosFollowedByDataAreACorruptRecord() throws {
        let (bytes, starts) = try Self.makeLogBytes(Self.records)
        let damaged = Array(bytes.prefix(starts[2])) + [UInt8](repeating: 0, count: 4096) + Array(bytes[starts[2]...])
        try Self.withLog(of: damaged) { log, _ in
            let replay = try log.replay()
            #expect(replay.records == Array(Self.records.prefix(2)))
            #expect(replay.warnings.map(\.kind) == [.corruptRecord])
            #expect(replay.warnings.first?.savedTo != nil)
        }
    }

    @Test func flippedByteAnywhereInTheLastRecordIsReportedAndEarlierRecordsKept() throws {
        let (bytes, starts) = try Self.makeLogBytes(Self.records)
        let lastStart = try #require(starts.last)
        for index in lastStart..<bytes.count {
            var damaged = bytes
            damaged[index] ^= 0xFF
            try Self.withLog(of: damaged) { log, dir in
                let replay = try log.replay()
                #expect(replay.records == Array(Self.records.dropLast()), "flip at \(index)")
                #expect(replay.warnings.count == 1, "flip at \(index)")
                #expect(replay.warnings.first?.offset == lastStart)
                log.close()
                let reopened = try DurableLog(directory: dir)
                defer { reopened.close() }
                #expect(try reopened.replay().warnings.isEmpty, "repaired, flip at \(index)")
            }
        }
    }

    @Test func flippedByteInTheMiddleKeepsRecordsBeforeItAndSavesTheRest() throws {
        let (bytes, starts) = try Self.makeLogBytes(Self.records)
        let bad = 2
        // A byte inside the payload: the record's length still frames it.
        let index = starts[bad] + DurableLog.recordHeaderSize + 3
        var damaged = bytes
        damaged[index] ^= 0x01
        try Self.withLog(of: damaged) { log, dir in
            let replay = try log.replay()
            #expect(replay.records == Array(Self.records.prefix(bad)))
            let warning = try #require(replay.warnings.first)
            #expect(replay.warnings.count == 1)
            #expect(warning.kind == .corruptRecord)
            #expect(warning.offset == starts[bad])
            #expect(warning.description.contains("offset \(starts[bad])"))
            let saved = try #require(warning.savedTo)
            #expect(try readBytes(saved) == Array(damaged[starts[bad]...]))

            try log.append(.createPolicy(name: "after"))
            #expect(try log.replay().records == Array(Self.records.prefix(bad)) + [.createPolicy(name: "after")])
        }
    }

    @Test func flippedByteAnywhereInAMiddleRecordNeverLosesEarlierRecords() throws {
        let (bytes, starts) = try Self.makeLogBytes(Self.records)
        let bad = 3
        for index in starts[bad]..<starts[bad + 1] {
            var damaged = bytes
            damaged[index] ^= 0xFF
            try Self.withLog(of: damaged) { log, _ in
                let replay = try log.replay()
                #expect(replay.records == Array(Self.records.prefix(bad)), "flip at \(index)")
                #expect(replay.warnings.map(\.offset) == [starts[bad]], "flip at \(index)")
            }
        }
    }

    @Test func leftoverTemporaryFileFromACrashedRewriteIsIgnored() throws {
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir)
            try log.append(Self.records)
            log.close()
            try writeBytes(Array("half a new log".utf8), to: dir + "/policy.log.tmp")
            let reopened = try DurableLog(directory: dir)
            defer { reopened.close() }
            #expect(try reopened.replay().records == Self.records)
        }
    }
}

/// Random damage to a log file: whatever it is, scanning keeps exactly the
/// records before the first damaged one, and reports the damage.
@Suite struct DurableLogRandomDamageTests {
    @Test func scanKeepsEveryRecordBeforeTheFirstDamagedByte() throws {
        let seed = propertyTestSeed()
        print("DurableLogRandomDamageTests seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let records = (0..<20).map { index in
            LogRecord.insertFacts(table: "a:t", rows: [[.int(Int64(index)), .string(String(repeating: "x", count: index))]])
        }
        let (bytes, starts) = try DurableLogRecoveryTests.makeLogBytes(records)
        for round in 0..<2000 {
            var damaged = bytes
            switch Int.random(in: 0..<3, using: &random) {
            case 0:  // flip some bytes
                let positions = (0..<Int.random(in: 1...4, using: &random)).map { _ in
                    Int.random(in: DurableLog.header.count..<bytes.count, using: &random)
                }
                for position in positions { damaged[position] ^= UInt8.random(in: 1...255, using: &random) }
            case 1:  // cut the file short
                damaged.removeSubrange(Int.random(in: DurableLog.header.count..<bytes.count, using: &random)...)
            default:  // garbage inserted
                let position = Int.random(in: DurableLog.header.count...bytes.count, using: &random)
                let garbage = (0..<Int.random(in: 1...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                damaged.insert(contentsOf: garbage, at: position)
            }
            // Measured, not assumed: two flips of one byte can cancel out, and
            // garbage can start with the bytes it displaced.
            let common = min(bytes.count, damaged.count)
            let first = (0..<common).first(where: { bytes[$0] != damaged[$0] }) ?? common
            if damaged == bytes { continue }
            // The records that end before the first damaged byte are intact.
            let intact = starts.indices.filter { index in
                (index + 1 < starts.count ? starts[index + 1] : bytes.count) <= first
            }.count
            let scan = DurableLog.scan(damaged)
            #expect(Array(scan.records.prefix(intact)) == Array(records.prefix(intact)), "seed \(seed) round \(round)")
            #expect(scan.records.count == intact, "seed \(seed) round \(round)")
            let cutAtBoundary = damaged.count == first && starts.contains(first)
            #expect((scan.damage == nil) == cutAtBoundary, "seed \(seed) round \(round)")
            let damageStarts = intact < starts.count ? starts[intact] : bytes.count
            #expect(scan.damage.map { $0.warning.offset == damageStarts } ?? true, "seed \(seed) round \(round)")
        }
    }
}
