import Foundation
import PolicyEngine
@testable import PolicyStore
import Testing
import TestSupport

/// The durable log's records through the project's JSON reader and writer.
@Suite struct LogRecordJSONTests {
    /// Records written by an earlier version with Foundation's `JSONEncoder`
    /// (other key orders, `\/` escapes, `{"float":"nan"}`): they must replay.
    @Test func recordsOfTheEarlierEncoderStillRead() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Corpus/durable-log/jsonencoder-records.jsonl")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try LogRecord(decoding: Array($0.utf8)) }
        #expect(records.count == 5)
        #expect(records[0] == .createPolicy(name: "alice"))
        #expect(records[1] == .insertRules(policy: "alice", text: "error(vm) :- nova:servers(vm, \"h/1\")\nq(\"\u{e9}\")"))
        #expect(records[2] == .deleteRules(policy: "alice", text: "q(\"\u{e9}\")"))
        #expect(records[4] == .deleteFacts(table: "alice:owner", rows: [[.int(0)]]))
        guard case .insertFacts("alice:owner", let rows) = records[3] else {
            Issue.record("\(records[3])")
            return
        }
        #expect(rows[0] == [.int(.max), .int(.min), .int(-1_000_000_000_000_000_000), .int(0)])
        #expect(rows[1].count == 7)
        #expect(Array(rows[1].prefix(4)) == [.float(2.5), .float(2.0), .float(-0.0), .float(1e300)])
        if case .float(let nan) = rows[1][4] { #expect(nan.isNaN) } else { Issue.record("NaN read as \(rows[1][4])") }
        #expect(Array(rows[1].suffix(2)) == [.float(.infinity), .float(-.infinity)])
        #expect(rows[2] == [.string("a/b"), .string("quote\" back\\ tab\t nl\n"), .string("e\u{301}"), .string("\u{1F468}\u{200D}\u{1F469}"), .string("")])
        // And each reads back the same after the current writer.
        for record in records where record != records[3] {
            #expect(try LogRecord(decoding: record.encoded()) == record)
        }
    }

    @Test func randomIntegersSurviveTheLog() throws {
        let seed = propertyTestSeed()
        print("LogRecordJSONTests.randomIntegersSurviveTheLog seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let records = (0..<50).map { _ in
            LogRecord.insertFacts(table: "a:t", rows: (0..<20).map { _ in [.int(random.int64()), .int(random.int64())] })
        }
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir)
            try log.append(records)
            log.close()
            let reopened = try DurableLog(directory: dir)
            defer { reopened.close() }
            #expect(try reopened.replay().records == records, "seed \(seed)")
        }
    }

    /// Issue 14: strings from tricky Unicode, in rows and in rule text,
    /// come back from the log with the same scalars (nothing normalised).
    @Test func trickyStringsSurviveTheLog() throws {
        let seed = propertyTestSeed()
        print("LogRecordJSONTests.trickyStringsSurviveTheLog seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let records: [LogRecord] = (0..<50).flatMap { _ in
            [
                LogRecord.insertFacts(table: "a:t", rows: (0..<10).map { _ in [.string(random.trickyString()), .string(random.trickyString())] }),
                LogRecord.insertRules(policy: "a", text: "h(x) :- t(x, \(Value.string(random.trickyString())))"),
            ]
        }
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir)
            try log.append(records)
            log.close()
            let reopened = try DurableLog(directory: dir)
            defer { reopened.close() }
            let replayed = try reopened.replay().records
            #expect(replayed.count == records.count, "seed \(seed)")
            for (read, written) in zip(replayed, records) {
                switch (read, written) {
                case (.insertFacts(_, let a), .insertFacts(_, let b)):
                    // Value == compares strings by scalars.
                    #expect(a == b, "seed \(seed)")
                case (.insertRules(_, let a), .insertRules(_, let b)):
                    #expect(sameScalars(a, b), "seed \(seed): \(a.debugDescription) != \(b.debugDescription)")
                default:
                    Issue.record("seed \(seed): \(read) read for \(written)")
                }
            }
        }
    }

    @Test(arguments: [
        #"{"op":"insert-facts","table":"a:t","rows":[[9223372036854775808]]}"#,
        #"{"op":"insert-facts","table":"a:t","rows":[[-9223372036854775809]]}"#,
        #"{"op":"insert-facts","table":"a:t","rows":[[1.5]]}"#,
        #"{"op":"insert-facts","table":"a:t","rows":[[true]]}"#,
        #"{"op":"drop-table","table":"a:t"}"#,
        #"{"op":"create-policy"}"#,
    ])
    func payloadsThatAreNotRecordsAreRefused(_ text: String) {
        #expect(throws: StoreError.self) { try LogRecord(decoding: Array(text.utf8)) }
    }
}
