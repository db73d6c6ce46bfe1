import Foundation
import PolicyEngine
import Testing
import ZeroMQ

@testable import PolicyBus

/// `applyDurably` when the log cannot be written: the request fails, the
/// engine is exactly as before, and no subscriber saw the change.
@Suite struct DurableApplyTests {
    struct Outcome: Sendable {
        var failed = false
        var seqBefore = 0, seqAfter = 0
        var rowsBefore: [[Value]] = [], rowsAfter: [[Value]] = []
        var rulesBefore: [String] = [], rulesAfter: [String] = []
    }

    /// An engine with policy `c` (`q(1)`, `r(x) :- q(x)`), a trigger on `c:r`
    /// and a closed (unwritable) data log; sends `request` on the node's thread.
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
                let behavior = node.behavior as! EngineBehavior
                let table = TableID("c:r")!
                behavior.open(table, node: node)
                behavior.durability!.log.close()
                var outcome = Outcome()
                outcome.seqBefore = Int(node.publisher.seq(table) ?? 0)
                outcome.rowsBefore = behavior.engine.rows(of: table)
                outcome.rulesBefore = (try? behavior.engine.rules(in: "c")) ?? []
                do {
                    _ = try behavior.handle(try ControlRequest(frame: Array(request.utf8)), node: node)
                } catch {
                    outcome.failed = true
                }
                outcome.seqAfter = Int(node.publisher.seq(table) ?? 0)
                outcome.rowsAfter = behavior.engine.rows(of: table)
                outcome.rulesAfter = (try? behavior.engine.rules(in: "c")) ?? []
                continuation.resume(returning: outcome)
            }
        }
        _ = try await offPool { thread.stop() }
        return outcome
    }

    @Test func aFactChangeThatCannotBeLoggedIsNeverPublished() async throws {
        let outcome = try await withUnwritableLog(#"{"op":"facts","action":"insert","table":"c:q","rows":[[2]]}"#)
        #expect(outcome.failed)
        #expect(outcome.rowsAfter == outcome.rowsBefore)
        #expect(outcome.seqAfter == outcome.seqBefore, "no delta (nor its undo) was published")
    }

    @Test func undoingARulesInsertKeepsTheRulesThatWereThereBefore() async throws {
        let outcome = try await withUnwritableLog(#"{"op":"rules","action":"insert","policy":"c","rule":"r(x) :- q(x).\ns(x) :- q(x).\nq(5)."}"#)
        #expect(outcome.failed)
        #expect(outcome.rulesAfter == outcome.rulesBefore)
        #expect(outcome.rowsAfter == outcome.rowsBefore)
        #expect(outcome.seqAfter == outcome.seqBefore)
    }
}
