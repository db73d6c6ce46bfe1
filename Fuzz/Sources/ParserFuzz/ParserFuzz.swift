import PolicyEngine

/// One fuzzer input, as policy text (the callback given to libFuzzer's driver).
///
/// Errors are fine; a crash, a hang or a broken invariant is a finding. The
/// invariant: the text of every parsed rule parses again to one rule, because
/// the engine's durable log stores rules as that text and replays it.
func parserFuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    // Invalid UTF-8 is repaired, as the bus's JSON decoding would reject it earlier.
    let text = String(decoding: bytes, as: UTF8.self)
    exercise(text)
    return 0
}

private func exercise(_ text: String) {
    _ = try? PolicyParser.parseQuery(text, defaultPolicy: "fuzz")
    _ = try? PolicyParser.parseQuery(text, defaultPolicy: nil)
    guard let parsed = try? PolicyParser.parse(text, policy: "fuzz") else { return }
    _ = try? ProgramChecker(policies: ["fuzz", "other"]).check(parsed.rules, facts: parsed.facts)
    for rule in parsed.rules {
        let again: ParsedPolicy
        do {
            again = try PolicyParser.parse(rule.text, policy: "fuzz")
        } catch {
            fatalError("the text of a parsed rule does not parse: \(rule.text.debugDescription): \(error)")
        }
        if again.rules.count != 1 || !again.facts.isEmpty {
            fatalError("the text of a parsed rule is not one rule: \(rule.text.debugDescription)")
        }
    }
}
