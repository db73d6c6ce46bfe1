import Foundation
import Logging
@testable import Monitoring
import Testing

@Suite struct LogLineHandlerTests {
    /// A logger at `level` whose lines the test reads.
    func capture(_ format: LogFormat, level: Logger.Level = .info) -> (Logger, Shared<[String]>) {
        let lines = Shared<[String]>([])
        let logger = Logger(label: "policybus.test") { label in
            LogLineHandler(label: label, format: format, level: level) { line in lines.value.append(line) }
        }
        return (logger, lines)
    }

    @Test func jsonLinesAreOneObjectEachWithTheDocumentedFields() throws {
        let (logger, lines) = capture(.json)
        logger.notice(
            "rule inserted",
            metadata: ["policy": "c", "rule": "p(x) :- q(x, \"a\\b\")\n", "rows": "3", "nested": ["a": ["1", "2"]]])
        let all = lines.value
        #expect(all.count == 1)
        let line = try #require(all.first)
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["timestamp", "level", "label", "message", "metadata"])
        #expect(object["level"] as? String == "notice")
        #expect(object["label"] as? String == "policybus.test")
        #expect(object["message"] as? String == "rule inserted")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["rule"] as? String == "p(x) :- q(x, \"a\\b\")\n")
        #expect((metadata["nested"] as? [String: [String]])?["a"] == ["1", "2"])
        // RFC 3339, UTC, milliseconds.
        let timestamp = try #require(object["timestamp"] as? String)
        #expect(timestamp.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)
        let parsed = try #require(ISO8601DateFormatter.withFractionalSeconds.date(from: timestamp))
        #expect(abs(parsed.timeIntervalSinceNow) < 60)
    }

    @Test func textLinesHaveTheTimestampLevelLabelAndSortedMetadata() throws {
        let (logger, lines) = capture(.text)
        logger.warning("peer lost", metadata: ["table": "nova:servers", "after.ms": "3000"])
        let line = try #require(lines.value.first)
        #expect(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warning policybus.test: peer lost after.ms=3000 table=nova:servers\n$"#, options: .regularExpression) != nil, "\(line)")
    }

    @Test func theLevelFilters() {
        let (logger, lines) = capture(.text, level: .notice)
        logger.info("hidden")
        logger.notice("shown")
        logger.critical("shown too")
        #expect(lines.value.count == 2)
    }

    @Test func controlCharactersInAMessageStayInItsOneLine() throws {
        let (logger, lines) = capture(.json)
        logger.info("a\u{1}b\nc\u{1f}")
        let line = try #require(lines.value.first)
        #expect(line.dropLast().allSatisfy { $0 != "\n" && $0 != "\u{1}" })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "a\u{1}b\nc\u{1f}")
    }

    @Test func timestampsAreZeroPadded() {
        // 2001-02-03T04:05:06.007Z
        let time = timespec(tv_sec: 981_173_106, tv_nsec: 7_900_000)
        #expect(LogLineHandler.rfc3339(time) == "2001-02-03T04:05:06.007Z")
    }
}

extension ISO8601DateFormatter {
    static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
