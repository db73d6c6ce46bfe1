import PolicyEngine
import Testing

@testable import PolicyBus
import TestSupport

/// A request's `rows` (also a `simulate`'s changes' rows) are read straight
/// into rows, without a JSON tree (`JSONParser.parseRows`,
/// `ControlRequest.Reading`), whole or a few a step. Property: for random frames, good and bad
/// (values that are not values, rows that are not arrays, a member given
/// twice, whitespace, damage after the rows, arrays over the limit), the
/// command or the refusal (code and message) is the one the tree gives.
@Suite struct TreeFreeRowsTests {
    /// The request as the node read it before: the whole tree, then the fields.
    static func throughTheTree(_ frame: [UInt8], limits: BusLimits) -> Result<ControlCommand, BusError> {
        let json: JSON
        do {
            json = try JSON.parse(frame, maxArrayCount: limits.maxRowsPerRequest)
        } catch {
            guard let limit = error.elementLimit else { return .failure(BusError(error)) }
            return .failure(BusError(.tooManyRows, "an array of more than \(limit) elements: a request holds at most \(limit) rows, and no longer array"))
        }
        guard case .object(let members) = json else { return .failure(BusError(.badRequest, "a request must be a JSON object")) }
        guard let op = members["op"]?.stringValue else { return .failure(BusError(.badRequest, "a request needs \"op\", a string")) }
        return Result { () throws(BusError) in try ControlCommand(ControlRequest(op: op, body: members), limits: limits) }
    }

    /// Read whole, or (`step` given) a few members, rows or changes a step,
    /// as a node reads a large frame, and its changes checked with a pause
    /// point every `step` of them (`PausePoints`; `pauses` counts the calls).
    static func withoutTheTree(_ frame: [UInt8], limits: BusLimits, step: Int? = nil, pauses: inout Int) -> Result<ControlCommand, BusError> {
        var called = 0
        defer { pauses += called }
        return Result { () throws(BusError) in
            guard let step else { return try ControlCommand(try ControlRequest(frame: frame, limits: limits), limits: limits) }
            var reading = ControlRequest.Reading(frame: frame, limits: limits)
            while try !reading.step(upTo: step) {}
            var points = PausePoints({ called += 1; return true }, every: step)
            return try ControlCommand(try ControlRequest(reading.object, limits: limits), limits: limits, pausing: &points)
        }
    }

    static func space(_ random: inout SeededRandom) -> String { ["", "", " ", "\n "].randomElement(using: &random)! }

    static func value(_ random: inout SeededRandom) -> String {
        switch Int.random(in: 0..<14, using: &random) {
        case 0: "null"
        case 1: "true"
        case 2: "[1]"
        case 3: "{\"a\":[1]}"
        case 4: "1.5"
        case 5: "-0"
        case 6: "\"a\\\"b\\u00e9\""
        case 7: "99999999999999999999"  // out of the int64 range: bad JSON
        default: "\(Int.random(in: -5...5, using: &random))"
        }
    }

    static func row(_ random: inout SeededRandom) -> String {
        switch Int.random(in: 0..<12, using: &random) {
        case 0: return value(&random)  // not an array
        case 1: return "[]"
        case 2: return "[" + (0..<6).map { _ in "1" }.joined(separator: ",") + "]"  // more columns than the limit (5)
        default:
            let s = space(&random)
            return "[" + s + (0..<Int.random(in: 1...3, using: &random)).map { _ in value(&random) }.joined(separator: s + "," + s) + s + "]"
        }
    }

    static func rows(_ random: inout SeededRandom) -> String {
        if Int.random(in: 0..<10, using: &random) == 0 { return ["5", "\"x\"", "null", "{}"].randomElement(using: &random)! }
        let s = space(&random)
        return "[" + s + (0..<Int.random(in: 0...7, using: &random)).map { _ in row(&random) }.joined(separator: s + "," + s) + s + "]"
    }

    static func facts(_ random: inout SeededRandom, nested: Bool) -> String {
        var members = [
            "\"action\":\"" + ["insert", "delete", "replace", "drop"].randomElement(using: &random)! + "\"",
            "\"table\":\"" + ["d:t", "bad"].randomElement(using: &random)! + "\"",
            "\"rows\":" + rows(&random),
        ]
        if Bool.random(using: &random) { members.append("\"rows\":" + rows(&random)) }  // given twice: the last counts
        if nested { members.append("\"op\":\"facts\"") } else { members += ["\"op\":\"facts\"", "\"id\":1", "\"client\":\"c\""] }
        if Int.random(in: 0..<4, using: &random) == 0 { members.append("\"note\":" + rows(&random)) }  // read by nothing
        members.shuffle(using: &random)
        return "{" + members.joined(separator: "," + space(&random)) + "}"
    }

    static func frame(_ random: inout SeededRandom) -> String {
        var text: String
        if Bool.random(using: &random) {
            text = facts(&random, nested: false)
        } else {
            let changes = (0..<Int.random(in: 0...6, using: &random)).map { _ in
                switch Int.random(in: 0..<8, using: &random) {
                case 0: value(&random)
                case 1: "{\"op\":\"rules\",\"action\":\"insert\",\"policy\":" + ["\"p\"", "1"].randomElement(using: &random)! + ",\"rule\":\"a(1).\"}"
                default: facts(&random, nested: true)
                }
            }
            var members = ["\"op\":\"simulate\"", "\"tables\":[\"d:t\"]", "\"changes\":[" + changes.joined(separator: ",") + "]"]
            if Int.random(in: 0..<6, using: &random) == 0 { members.append("\"changes\":" + rows(&random)) }
            members.shuffle(using: &random)
            text = "{" + members.joined(separator: ",") + "}"
        }
        switch Int.random(in: 0..<12, using: &random) {
        case 0: text += " x"  // damage after the object
        case 1: text = String(text.dropLast(Int.random(in: 1...4, using: &random)))  // cut short
        default: break
        }
        return text
    }

    @Test func theRequestIsTheTreesGoodOrBad() {
        let seed = UInt64.random(in: 0...UInt64(UInt32.max))
        print("TreeFreeRowsTests seed \(seed)")
        var random = SeededRandom(seed: seed)
        var limits = BusLimits()
        limits.maxRowsPerRequest = 6
        limits.maxArity = 5
        var outcomes: Set<String> = []
        var pauses = 0
        for _ in 0..<20_000 {
            let text = Self.frame(&random)
            let frame = Array(text.utf8)
            let expected = Self.throughTheTree(frame, limits: limits)
            let got = Self.withoutTheTree(frame, limits: limits, pauses: &pauses)
            #expect(got == expected, "seed \(seed): \(text)")
            let step = Int.random(in: 1...3, using: &random)
            let stepped = Self.withoutTheTree(frame, limits: limits, step: step, pauses: &pauses)
            #expect(stepped == expected, "seed \(seed), \(step) a step: \(text)")
            if got != expected || stepped != expected { return }
            switch got {
            case .success: outcomes.insert("ok")
            case .failure(let error): outcomes.insert(error.code.rawValue)
            }
        }
        // The stepped reads' changes paused as they were checked.
        #expect(pauses > 100, "\(pauses) pauses")
        // The frames reach every outcome the rows can have.
        #expect(outcomes.isSuperset(of: ["ok", "bad-json", "bad-request", "too-many-rows", "too-large", "bad-table-name"]), "\(outcomes)")
    }
}
