import Foundation
import PolicyEngine
import Testing

/// Replays the fuzzers' regression corpus: every input a fuzzer found that
/// crashed, hung or broke an invariant, kept so that it never comes back.
/// Errors are fine; the test fails on a crash or a broken invariant.
@Suite struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    /// Every file in a corpus folder, by name, so that a failure names the file.
    static func inputs(_ folder: String) -> [String] {
        let directory = corpus.appendingPathComponent(folder).path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test func parserCorpusIsNotEmpty() {
        #expect(!Self.inputs("parser").isEmpty, "the corpus folder moved or is empty")
    }

    @Test(arguments: CorpusReplayTests.inputs("parser"))
    func parserInput(_ name: String) throws {
        try Self.replayThroughParser(folder: "parser", name)
    }

    /// The same steps as Fuzz/Sources/ParserFuzz, with the invariant as an expectation.
    static func replayThroughParser(folder: String, _ name: String) throws {
        let data = try Data(contentsOf: corpus.appendingPathComponent(folder).appendingPathComponent(name))
        let text = String(decoding: data, as: UTF8.self)
        _ = try? PolicyParser.parseQuery(text, defaultPolicy: "fuzz")
        _ = try? PolicyParser.parseQuery(text, defaultPolicy: nil)
        guard let parsed = try? PolicyParser.parse(text, policy: "fuzz") else { return }
        _ = try? ProgramChecker(policies: ["fuzz", "other"]).check(parsed.rules, facts: parsed.facts)
        for rule in parsed.rules {
            let again = try? PolicyParser.parse(rule.text, policy: "fuzz")
            #expect(again?.rules.count == 1 && again?.facts.isEmpty == true, "rule text \(rule.text.debugDescription) does not parse back to one rule")
        }
    }
}
