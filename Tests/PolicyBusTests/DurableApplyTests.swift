import Foundation
import PolicyEngine
import Testing
import ZeroMQ

@testable import PolicyBus

/// A control change when the log cannot be written: the request fails, the
/// engine is exactly as before (the commit hook failed, so nothing was
/// committed), and no subscriber saw the change.
@Suite struct DurableApplyTests {
    struct Outcome: Sendable {
        var reply: JSON = .null
        var published = false
        var seqBefore = 0, seqAfter = 0
        var rowsBefore: [[Value]] = [], rowsAfter: [[Value]] = []
        var rulesBefore: [String] = [], rulesAfter: [String] = []
    }

    /// An engine with policy `c` (`q(1)`, `r(x) :- q(x)`), a subscriber's
    /// trigger on `c:r` and a closed (unwritable) data log; `request` goes
    /// through the node's own request path on the node's thread.
    func withUnwritableLog(_ request: String) async throws -> Outcome {
        let dataDir = NSTemporaryDirectory() + "policybus-apply-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let thread = try NodeThread.start(name: "test-engine") { () throws(BusError) -> Node in
            var setup = EngineSetup(policies: [("c", "q(1).\nr(x) :- q(x).")])
            setup.dataDirectory = dataDir
            let context: Context
            do { context = try Context() } catch { throw BusError(.transport, "\(error)") }
            return try Node.engine(NodeOptions(name: "E", control: "tcp://127.0.0.1:*"), setup: setup, context: context)
        }
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            thread.control.submit { node in
                let table = TableID("c:r")!
                let engine = node.engine!
                _ = node.answer(Array(#"{"op":"subscribe","client":"t","tables":["c:r"]}"#.utf8), peer: [1], key: nil)
                (node.behavior as! EngineBehavior).durability!.log.close()
                var outcome = Outcome()
                outcome.published = node.publisher.isOpen(table)
                outcome.seqBefore = Int(node.publisher.seq(table) ?? 0)
                outcome.rowsBefore = engine.rows(of: table)
                outcome.rulesBefore = (try? engine.rules(in: "c")) ?? []
                outcome.reply = (try? JSON.parse(node.answer(Array(request.utf8), peer: [1], key: nil) ?? [])) ?? .null
                outcome.seqAfter = Int(node.publisher.seq(table) ?? 0)
                outcome.rowsAfter = engine.rows(of: table)
                outcome.rulesAfter = (try? engine.rules(in: "c")) ?? []
                continuation.resume(returning: outcome)
            }
        }
        _ = try await offPool { thread.stop() }
        return outcome
    }

    @Test func aFactChangeThatCannotBeLoggedIsNeverPublished() async throws {
        let outcome = try await withUnwritableLog(#"{"op":"facts","action":"insert","table":"c:q","rows":[[2]]}"#)
        #expect(outcome.reply["error"]?["code"]?.stringValue == "internal")
        #expect(outcome.published)
        #expect(outcome.rowsAfter == outcome.rowsBefore)
        #expect(outcome.seqAfter == outcome.seqBefore, "no delta was published")
    }

    @Test func aRulesInsertThatCannotBeLoggedChangesNothing() async throws {
        let outcome = try await withUnwritableLog(#"{"op":"rules","action":"insert","policy":"c","rule":"r(x) :- q(x).\ns(x) :- q(x).\nq(5)."}"#)
        #expect(outcome.reply["error"]?["code"]?.stringValue == "internal")
        #expect(outcome.rulesAfter == outcome.rulesBefore)
        #expect(outcome.rowsAfter == outcome.rowsBefore)
        #expect(outcome.seqAfter == outcome.seqBefore)
    }
}
