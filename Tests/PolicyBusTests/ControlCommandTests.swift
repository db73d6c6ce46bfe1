import PolicyEngine
import Testing

@testable import PolicyBus
import TestSupport

/// The request encoder and the node's decoder agree: a command written by
/// `ControlRequest.frame` decodes to itself, and the envelope carries the id
/// and the client.
@Suite struct ControlCommandTests {
    static func randomName(_ generator: inout SeededRandom) -> String {
        let letters = Array("abcxyz_")
        return "t" + String((0..<Int.random(in: 0..<6, using: &generator)).map { _ in letters.randomElement(using: &generator)! })
    }

    static func randomTable(_ generator: inout SeededRandom) -> TableID {
        TableID(service: randomName(&generator), name: randomName(&generator))
    }

    static func randomValue(_ generator: inout SeededRandom) -> Value {
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: .int(Int64.random(in: Int64.min...Int64.max, using: &generator))
        case 1: .float(Double(Int32.random(in: Int32.min...Int32.max, using: &generator)) / 8 + 0.5)
        default: .string(["", "a\"b", "é\n\\", "{\"op\":1}"].randomElement(using: &generator)!)
        }
    }

    static func randomPage(_ generator: inout SeededRandom) -> ControlCommand.Page {
        ControlCommand.Page(
            offset: Bool.random(using: &generator) ? 0 : Int.random(in: 0..<1000, using: &generator),
            limit: Bool.random(using: &generator) ? nil : Int.random(in: 0..<1000, using: &generator))
    }

    static func randomCommand(_ generator: inout SeededRandom) -> ControlCommand {
        let tables = { (generator: inout SeededRandom) -> [TableID] in
            var seen: Set<TableID> = []
            return (0...Int.random(in: 0..<4, using: &generator)).map { _ in randomTable(&generator) }.filter { seen.insert($0).inserted }
        }
        let policy = randomName(&generator)
        let text = "p(x) :- q(x, \"\(randomName(&generator))\")"
        switch Int.random(in: 0..<18, using: &generator) {
        case 0: return .hello
        case 1: return .subscribe(tables: tables(&generator))
        case 2: return .unsubscribe(tables: tables(&generator))
        case 3: return .renew
        case 4: return .status(randomPage(&generator))
        case 5: return .tables(randomPage(&generator))
        case 6: return .query("\(randomTable(&generator))(x, _)", randomPage(&generator))
        case 7: return .rules(.list(policy: policy))
        case 8: return .rules(Bool.random(using: &generator) ? .insert(policy: policy, text: text) : .delete(policy: policy, text: text))
        case 9: return .explain(query: "\(randomTable(&generator))(x, 1)", all: Bool.random(using: &generator))
        case 10: return .policyCreate(name: policy, rules: Bool.random(using: &generator) ? text : nil)
        case 11: return .policyDelete(name: policy)
        case 12: return .policyList
        case 17: return .snapshotChunk(snapshot: randomName(&generator), offset: Int.random(in: 0..<1_000_000, using: &generator))
        case 13:
            let changes: [ControlCommand.Change] = (0..<Int.random(in: 0..<3, using: &generator)).map { _ in
                Bool.random(using: &generator)
                    ? .rules(.insert(policy: policy, text: text))
                    : .facts(.init(.delete, table: randomTable(&generator), rows: [[randomValue(&generator)]]))
            }
            return .simulate(changes: changes, tables: tables(&generator))
        default:
            let arity = Int.random(in: 0..<4, using: &generator)
            let rows = (0..<Int.random(in: 0..<5, using: &generator)).map { _ in (0..<arity).map { _ in randomValue(&generator) } }
            let action = [ControlCommand.Facts.Action.insert, .delete, .replace].randomElement(using: &generator)!
            return .facts(.init(action, table: randomTable(&generator), rows: rows))
        }
    }

    @Test func everyCommandDecodesToItself() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("ControlCommandTests seed \(seed)")
        var generator = SeededRandom(seed: seed)
        for id in 0..<2000 {
            let command = Self.randomCommand(&generator)
            let frame = ControlRequest.frame(command, id: Int64(id), client: "c\(id)")
            let request = try ControlRequest(frame: frame)
            #expect(request.op == command.op, "seed \(seed)")
            #expect(request.id == .int(Int64(id)), "seed \(seed)")
            #expect(request.client == "c\(id)", "seed \(seed)")
            #expect(try ControlCommand(request, limits: BusLimits()) == command, "seed \(seed)")
        }
    }

    func code(_ text: String, limits: BusLimits = BusLimits()) -> String? {
        do {
            _ = try ControlCommand(try ControlRequest(frame: Array(text.utf8), limits: limits), limits: limits)
            return nil
        } catch {
            return error.code.rawValue
        }
    }

    @Test func badFieldsAreRefusedAtTheEdge() {
        #expect(code(#"{"op":"nope"}"#) == "unknown-op")
        #expect(code(#"{"op":"subscribe"}"#) == "bad-request")
        #expect(code(#"{"op":"subscribe","tables":["a:b", 1]}"#) == "bad-request")
        #expect(code(#"{"op":"query"}"#) == "bad-request")
        #expect(code(#"{"op":"rules","action":"list"}"#) == "bad-request")
        #expect(code(#"{"op":"rules","action":"drop","policy":"p"}"#) == "bad-request")
        #expect(code(#"{"op":"rules","action":"insert","policy":"p"}"#) == "bad-request")
        #expect(code(#"{"op":"facts","action":"upsert","table":"a:b","rows":[]}"#) == "bad-request")
        #expect(code(#"{"op":"facts","action":"insert","table":"ab","rows":[]}"#) == "bad-table-name")
        #expect(code(#"{"op":"facts","action":"insert","table":"a:b","rows":[[true]]}"#) == "bad-request")
        var small = BusLimits()
        small.maxRowsPerRequest = 1
        #expect(code(#"{"op":"facts","action":"insert","table":"a:b","rows":[[1],[2]]}"#, limits: small) == "too-many-rows")
        small = BusLimits()  // (two tables would pass a row limit of 1: no array is longer)
        small.maxSubscriptionsPerClient = 1
        #expect(code(#"{"op":"unsubscribe","tables":["a:b","a:c"]}"#, limits: small) == "too-many-subscriptions")
        #expect(code(#"{"op":"facts","action":"replace","table":"a:b","rows":[]}"#) == nil)
    }

    @Test func pagesAreNonNegativeAndSliceWithinTheList() {
        for op in ["status", "tables"] {
            #expect(code(#"{"op":"\#(op)","offset":3,"limit":0}"#) == nil)
            #expect(code(#"{"op":"\#(op)","offset":-1}"#) == "bad-request")
            #expect(code(#"{"op":"\#(op)","limit":1.5}"#) == "bad-request")
            #expect(code(#"{"op":"\#(op)","limit":"10"}"#) == "bad-request")
        }
        #expect(code(#"{"op":"query","query":"a:b","offset":2,"limit":2}"#) == nil)
        #expect(code(#"{"op":"query","query":"a:b","limit":-2}"#) == "bad-request")

        let items = Array(0..<10)
        typealias Page = ControlCommand.Page
        #expect(Page().slice(items) == (items[0..<10], 0))
        #expect(Page().slice(items, defaultLimit: 4) == (items[0..<4], 6))
        #expect(Page(offset: 8, limit: 4).slice(items) == (items[8..<10], 0))
        #expect(Page(offset: 12, limit: 4).slice(items) == (items[10..<10], 0))
        #expect(Page(offset: 3, limit: 0).slice(items) == (items[3..<3], 7))
        #expect(Page(offset: 3, limit: 5).slice(items, defaultLimit: 1) == (items[3..<8], 2))
    }

    /// No array of a request is longer than its rows may be: the envelope's
    /// parse stops at the first that is, `too-many-rows`, whichever field it is.
    @Test func noArrayIsLongerThanTheRowLimit() {
        var limits = BusLimits()
        limits.maxRowsPerRequest = 3
        let rows = #"{"op":"facts","action":"insert","table":"d:q","rows":[[1],[2],[3]]}"#
        #expect(code(rows, limits: limits) == nil)
        for text in [
            #"{"op":"facts","action":"insert","table":"d:q","rows":[[1],[2],[3],[4]]}"#,
            #"{"op":"hello","pad":[0,0,0,0,0]}"#,
            #"{"op":"simulate","tables":["p:p"],"changes":[{},{},{},{}]}"#,
        ] {
            #expect(code(text, limits: limits) == "too-many-rows", "\(text)")
        }
        // The id is echoed when it comes before the long array.
        #expect(ControlRequest.bestEffortID(Array(#"{"id":4,"op":"hello","pad":[0,0,0,0,0]}"#.utf8), limits: limits) == .int(4))
    }

    /// Each size limit holds at its value and refuses one byte (or column) more,
    /// with its code, in every op that carries the field.
    @Test func everyFieldIsBoundedAtItsLimit() {
        let limits = BusLimits()
        func client(_ size: Int) -> String { String(repeating: "c", count: size) }
        for op in ["hello", "renew", "status", "tables"] {
            #expect(code(#"{"op":"\#(op)","client":"\#(client(limits.maxClientIDLength))"}"#) == nil, "\(op)")
            #expect(code(#"{"op":"\#(op)","client":"\#(client(limits.maxClientIDLength + 1))"}"#) == "too-large", "\(op)")
        }
        // The client id is checked before the op's own fields.
        #expect(code(#"{"op":"subscribe","tables":[],"client":"\#(client(limits.maxClientIDLength + 1))"}"#) == "too-large")

        let atLimit = "a:" + String(repeating: "t", count: limits.maxTableNameLength - 2)
        let overLimit = atLimit + "t"
        for op in ["subscribe", "unsubscribe"] {
            #expect(code(#"{"op":"\#(op)","tables":["\#(atLimit)"]}"#) == nil)
            #expect(code(#"{"op":"\#(op)","tables":["a:b","\#(overLimit)"]}"#) == "bad-table-name")
        }
        #expect(code(#"{"op":"facts","action":"insert","table":"\#(atLimit)","rows":[]}"#) == nil)
        #expect(code(#"{"op":"facts","action":"insert","table":"\#(overLimit)","rows":[]}"#) == "bad-table-name")
        for op in ["query", "explain"] {
            #expect(code(#"{"op":"\#(op)","query":"\#(atLimit)(x)"}"#) == nil)
            #expect(code(#"{"op":"\#(op)","query":"\#(overLimit)(x)"}"#) == "bad-table-name")
            #expect(code(#"{"op":"\#(op)","query":"\#(overLimit)"}"#) == "bad-table-name")
            let wide = (0..<limits.maxArity + 1).map { "x\($0)" }
            #expect(code(#"{"op":"\#(op)","query":"a:b(\#(wide.dropLast().joined(separator: ",")))"}"#) == nil)
            #expect(code(#"{"op":"\#(op)","query":"a:b(\#(wide.joined(separator: ",")))"}"#) == "too-large")
            let padding = String(repeating: " ", count: limits.maxQueryLength)
            #expect(code(#"{"op":"\#(op)","query":"a:b\#(padding)"}"#) == "too-large")
            // Text that does not parse is the node's to explain, unless it is too long.
            #expect(code(#"{"op":"\#(op)","query":"a:b((("}"#) == nil)
        }

        let row = "[" + Array(repeating: "1", count: limits.maxArity).joined(separator: ",")
        #expect(code(#"{"op":"facts","action":"insert","table":"a:b","rows":[\#(row)]]}"#) == nil)
        #expect(code(#"{"op":"facts","action":"insert","table":"a:b","rows":[[1],\#(row),1]]}"#) == "too-large")

        let policy = String(repeating: "p", count: limits.maxTableNameLength)
        #expect(code(#"{"op":"rules","action":"list","policy":"\#(policy)"}"#) == nil)
        #expect(code(#"{"op":"rules","action":"list","policy":"\#(policy)p"}"#) == "too-large")
        for action in ["insert", "delete"] {
            let rule = "p(x) :- q(x)."
            let text = rule + String(repeating: " ", count: limits.maxRuleTextLength - rule.utf8.count)
            #expect(code(#"{"op":"rules","action":"\#(action)","policy":"p","rule":"\#(text)"}"#) == nil)
            #expect(code(#"{"op":"rules","action":"\#(action)","policy":"p","rule":"\#(text) "}"#) == "too-large")
            // The table names in the text are the engine's to check, where it is parsed (EngineLimitTests).
            let name = String(repeating: "t", count: limits.maxTableNameLength)
            #expect(code(#"{"op":"rules","action":"\#(action)","policy":"p","rule":"h(x) :- \#(name)(x)"}"#) == nil)
        }
    }
}
