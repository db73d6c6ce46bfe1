import Testing
import TestSupport

@testable import PolicyEngine

/// Congress's trigger behaviours, one test each.
@Suite struct EngineTriggerTests {
    /// alice:error(vm) :- nova:servers(vm, host), not alice:allowed(host)
    func errorEngine() throws -> Engine {
        let engine = Engine()
        try engine.createPolicy("alice")
        try engine.change {
            $0.insert(
                rule: RuleBuilder.rule(
                    "alice", "alice:error", [.v("vm")],
                    [.pos("nova:servers", [.v("vm"), .v("host")]), .neg("alice:allowed", [.v("host")])]))
            $0.insert("alice:allowed", "h1")
        }
        return engine
    }

    func log(_ engine: Engine, _ table: String) -> TriggerLog {
        let log = TriggerLog()
        engine.addTrigger(on: RuleBuilder.table(table)) { log.deltas.append($0.sorted()) }
        return log
    }

    /// `load` skips the deltas of tables no trigger watches, not the triggers.
    @Test func loadFiresTheSameTriggersAsApply() throws {
        let applied = try errorEngine()
        let loaded = try errorEngine()
        let appliedErrors = log(applied, "alice:error")
        let loadedErrors = log(loaded, "alice:error")
        for step in 0..<3 {
            var transaction = Transaction()
            transaction.insert([.string("vm\(step)"), .string("h\(step)")], into: RuleBuilder.table("nova:servers"))
            if step == 2 { transaction.delete(["vm0", "h0"], from: RuleBuilder.table("nova:servers")) }
            let returned = try applied.apply(transaction)
            try loaded.load(transaction)
            #expect(returned.contains { $0.table == RuleBuilder.table("nova:servers") })
        }
        #expect(loadedErrors.deltas == appliedErrors.deltas)
        #expect(loadedErrors.deltas.count == 2, "vm0 and vm2 on disallowed hosts, then vm0 gone with vm2 added")
        #expect(loaded.rows(of: RuleBuilder.table("alice:error")) == applied.rows(of: RuleBuilder.table("alice:error")))
    }

    @Test func batchFiresEachTriggerOnce() throws {
        let engine = try errorEngine()
        let errors = log(engine, "alice:error")
        let servers = log(engine, "nova:servers")
        try engine.change {
            $0.insert("nova:servers", "vm1", "h2")
            $0.insert("nova:servers", "vm2", "h3")
            $0.insert("nova:servers", "vm3", "h1")
        }
        #expect(errors.deltas == [TableDelta(table: RuleBuilder.table("alice:error"), added: [["vm1"], ["vm2"]], removed: [])])
        #expect(servers.deltas.count == 1)
        #expect(servers.deltas.first?.added.count == 3)
    }

    @Test func failedBatchFiresNothingAndChangesNothing() throws {
        let engine = try errorEngine()
        let errors = log(engine, "alice:error")
        let before = engine.rows("nova:servers")
        #expect(throws: PolicyError.self) {
            try engine.change {
                $0.insert("nova:servers", "vm1", "h2")
                $0.insert("nova:servers", "vm2")  // wrong arity
            }
        }
        #expect(errors.deltas.isEmpty)
        #expect(engine.rows("nova:servers") == before)
        #expect(engine.rows("alice:error").isEmpty)
    }

    @Test func noOpFiresNothing() throws {
        let engine = try errorEngine()
        try engine.change { $0.insert("nova:servers", "vm1", "h2") }
        let errors = log(engine, "alice:error")
        let servers = log(engine, "nova:servers")
        try engine.change { $0.insert("nova:servers", "vm1", "h2") }  // already there
        try engine.change {
            $0.insert("nova:servers", "vm9", "h2")
            $0.delete("nova:servers", "vm9", "h2")
        }
        try engine.change { $0.delete("nova:servers", "vm7", "h7") }  // never there
        #expect(errors.deltas.isEmpty)
        #expect(servers.deltas.isEmpty)
    }

    @Test func unrelatedChangeFiresNothing() throws {
        let engine = try errorEngine()
        let errors = log(engine, "alice:error")
        try engine.change { $0.insert("neutron:ports", "p1", "vm1") }
        // A server on an allowed host changes servers but not error.
        try engine.change { $0.insert("nova:servers", "vm5", "h1") }
        #expect(errors.deltas.isEmpty)
    }

    @Test func negationChangesFire() throws {
        let engine = try errorEngine()
        try engine.change { $0.insert("nova:servers", "vm1", "h2") }
        let errors = log(engine, "alice:error")
        try engine.change { $0.insert("alice:allowed", "h2") }
        try engine.change { $0.delete("alice:allowed", "h2") }
        let table = RuleBuilder.table("alice:error")
        #expect(
            errors.deltas == [
                TableDelta(table: table, added: [], removed: [["vm1"]]),
                TableDelta(table: table, added: [["vm1"]], removed: []),
            ])
    }

    @Test func oldAndNewContentsAreRightAcrossPolicies() throws {
        let engine = try errorEngine()
        try engine.createPolicy("bob")
        // bob:alarm(vm) :- alice:error(vm), bob:watched(vm)
        try engine.change {
            $0.insert(
                rule: RuleBuilder.rule(
                    "bob", "bob:alarm", [.v("vm")], [.pos("alice:error", [.v("vm")]), .pos("bob:watched", [.v("vm")])]))
            $0.insert("bob:watched", "vm1")
            $0.insert("bob:watched", "vm2")
            $0.insert("nova:servers", "vm1", "h2")
        }
        var contents = engine.rows("bob:alarm")
        #expect(contents == [["vm1"]])
        let alarms = log(engine, "bob:alarm")
        try engine.change {
            $0.insert("nova:servers", "vm2", "h3")
            $0.insert("alice:allowed", "h2")
        }
        let delta = try #require(alarms.deltas.first)
        #expect(delta.removed == [["vm1"]])
        #expect(delta.added == [["vm2"]])
        contents = apply(delta, to: contents)
        #expect(contents == engine.rows("bob:alarm"))
    }

    @Test func removedTriggerStopsFiring() throws {
        let engine = try errorEngine()
        let errors = TriggerLog()
        let id = engine.addTrigger(on: RuleBuilder.table("alice:error")) { errors.deltas.append($0) }
        #expect(engine.triggers.map(\.id) == [id])
        engine.removeTrigger(id)
        try engine.change { $0.insert("nova:servers", "vm1", "h2") }
        #expect(errors.deltas.isEmpty)
        #expect(engine.triggers.isEmpty)
    }

    /// Triggers removed together (a node closing the tables whose leases
    /// ended) go in one pass: the others stay, in registration order, and
    /// only they fire.
    @Test func triggersRemovedTogetherLeaveTheOthersInOrder() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("EngineTriggerTests seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let engine = try errorEngine()
        let fired = TriggerLog()
        var ids: [TriggerID] = []
        for _ in 0..<500 {
            ids.append(engine.addTrigger(on: RuleBuilder.table("alice:error")) { fired.deltas.append($0) })
        }
        let removed = Set(ids.filter { _ in random.next() % 3 == 0 })
        engine.removeTriggers(removed)
        let kept = ids.filter { !removed.contains($0) }
        #expect(engine.triggers.map(\.id) == kept, "seed \(seed)")
        try engine.change { $0.insert("nova:servers", "vm1", "h2") }
        #expect(fired.deltas.count == kept.count, "seed \(seed)")
        engine.removeTriggers([])
        #expect(engine.triggers.count == kept.count)
    }

    @Test func severalTriggersShareATable() throws {
        let engine = try errorEngine()
        let first = log(engine, "alice:error")
        let second = log(engine, "alice:error")
        try engine.change { $0.insert("nova:servers", "vm1", "h2") }
        #expect(first.deltas.count == 1)
        #expect(first.deltas == second.deltas)
    }
}

func apply(_ delta: TableDelta, to rows: [[Value]]) -> [[Value]] {
    let removed = Set(delta.removed)
    return (rows.filter { !removed.contains($0) } + delta.added).sorted(by: rowPrecedes)
}
