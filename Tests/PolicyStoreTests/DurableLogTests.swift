import Foundation
import PolicyEngine
@testable import PolicyStore
import Testing
import TestSupport

@Suite struct DurableLogTests {
    /// A varied set of records: every kind, every value kind, awkward strings.
    static let sample: [LogRecord] = [
        .createPolicy(name: "alice"),
        .insertRules(policy: "alice", text: "error(x) :- nova:servers(x, \"h1\"), not ok(x)"),
        .insertFacts(table: "alice:ok", rows: [[.int(1)], [.int(Int64.min)], [.int(Int64.max)]]),
        .insertFacts(
            table: "alice:mixed",
            rows: [[.float(2.0), .float(-0.0), .float(.infinity), .float(1e-300)], [.string("é \"q\" \n \u{0}"), .string("")]]),
        .deleteFacts(table: "alice:ok", rows: [[.int(1)]]),
        .deleteRules(policy: "alice", text: "error(x) :- nova:servers(x, \"h1\"), not ok(x)"),
        .deletePolicy(name: "alice"),
    ]

    @Test func recordsSurviveReopening() throws {
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir)
            try log.append(Self.sample)
            log.close()

            let reopened = try DurableLog(directory: dir)
            defer { reopened.close() }
            let replay = try reopened.replay()
            #expect(replay.records == Self.sample)
            #expect(replay.warnings.isEmpty)
            #expect(reopened.recordCount == Self.sample.count)
        }
    }

    @Test func floatsKeepTheirKindAndNaNSurvives() throws {
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir)
            try log.append(.insertFacts(table: "a:t", rows: [[.float(.nan), .float(2), .int(2), .string("2")]]))
            log.close()
            let records = try DurableLog(directory: dir).replay().records
            guard case .insertFacts(_, let rows) = try #require(records.first) else {
                Issue.record("wrong record \(records)")
                return
            }
            guard case .float(let nan) = rows[0][0] else {
                Issue.record("NaN came back as \(rows[0][0])")
                return
            }
            #expect(nan.isNaN)
            #expect(Array(rows[0].dropFirst()) == [.float(2), .int(2), .string("2")])
        }
    }

    @Test func reopenAppendReopenKeepsEverythingInOrder() throws {
        try withTemporaryDirectory { dir in
            for (index, record) in Self.sample.enumerated() {
                let log = try DurableLog(directory: dir)
                #expect(try log.replay().records == Array(Self.sample.prefix(index)))
                try log.append(record)
                log.close()
            }
            let log = try DurableLog(directory: dir)
            defer { log.close() }
            #expect(try log.replay().records == Self.sample)
        }
    }

    @Test func everyAppendBatchIsFsyncedOnce() throws {
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir)
            defer { log.close() }
            let before = log.syncCount
            try log.append(Self.sample)
            #expect(log.syncCount == before + 1)
            try log.append(.createPolicy(name: "bob"))
            #expect(log.syncCount == before + 2)
            try log.append([])
            #expect(log.syncCount == before + 2)
        }
    }

    @Test func appendAfterCloseFailsWithACode() throws {
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir)
            log.close()
            let error = #expect(throws: StoreError.self) { try log.append(.createPolicy(name: "x")) }
            #expect(error?.code == .unusable)
        }
    }

    @Test func secondOpenerOfADirectoryIsRefused() throws {
        try withTemporaryDirectory { dir in
            let first = try DurableLog(directory: dir)
            let error = #expect(throws: StoreError.self) { try DurableLog(directory: dir) }
            #expect(error?.code == .locked)
            first.close()
            try DurableLog(directory: dir).close()
        }
    }

    @Test func refusesAFileThatIsNotALogAndLeavesItAlone() throws {
        try withTemporaryDirectory { dir in
            let garbage = Array("not a log at all\n".utf8)
            try writeBytes(garbage, to: dir + "/policy.log")
            let error = #expect(throws: StoreError.self) { try DurableLog(directory: dir) }
            #expect(error?.code == .notALog)
            #expect(try readBytes(dir + "/policy.log") == garbage)
        }
    }

    @Test func createsMissingParentDirectories() throws {
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir + "/a/b/engine")
            defer { log.close() }
            try log.append(.createPolicy(name: "p"))
            #expect(FileManager.default.fileExists(atPath: dir + "/a/b/engine/policy.log"))
        }
    }

    @Test func checksumIsCRC32C() {
        // The check value from the CRC catalogue.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func defaultDataDirectoryFollowsXDG() {
        #expect(DataDirectory.defaultPath(name: "e", environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"]) == "/s/policybus/e")
        #expect(DataDirectory.defaultPath(name: "e", environment: ["HOME": "/h"]) == "/h/.local/state/policybus/e")
        #expect(DataDirectory.defaultPath(name: "e", environment: [:]) == "./policybus-data/e")
    }
}
