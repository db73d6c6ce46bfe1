import PolicyEngine
import ZeroMQ

/// A `subscribe` waiting for the first snapshot of the peer tables its
/// tables read: answered before, its snapshot would be partial, and a
/// subscriber that had the table before the engine restarted would see rows
/// vanish and come back.
struct HeldSubscribe {
    let envelope: [[UInt8]]
    let id: JSON?
    let command: ControlCommand
    let tables: [TableID]
    let client: ClientIdentity
    /// When the reply becomes `not-ready`.
    let deadline: UInt64
}

extension Node {
    /// Held requests beyond this many are refused at once.
    static let maxHeldSubscribes = 1000

    /// Holds a `subscribe` whose tables read unsynced peer tables.
    /// - Returns: whether it was held (its reply comes later).
    /// A `query` of such a table is refused `not-ready` at once: it is one
    /// read, and a client's request timeout (the CLI's 5 s) is shorter than
    /// the wait, while its rows would read as "nothing", e.g. no violations.
    func hold(_ command: ControlCommand, id: JSON?, client: ClientIdentity, envelope: [[UInt8]]) throws(BusError) -> Bool {
        if case .query(let text, _) = command, let table = behavior.policyEngine?.queriedTable(text) {
            let waiting = unsyncedInputs(of: [table])
            if !waiting.isEmpty { throw notReady(waiting) }
        }
        guard case .subscribe(let tables, _) = command else { return false }
        // An unknown table is refused now, not after the wait.
        for table in tables { try behavior.validate(table) }
        let waiting = unsyncedInputs(of: tables)
        guard !waiting.isEmpty else { return false }
        guard heldSubscribes.count < Self.maxHeldSubscribes, behavior.syncWaitMilliseconds > 0 else { throw notReady(waiting) }
        heldSubscribes.append(HeldSubscribe(
            envelope: envelope, id: id, command: command, tables: tables, client: client,
            deadline: monotonicNanoseconds() + .milliseconds(behavior.syncWaitMilliseconds)))
        logger.debug("subscribe held until its peer inputs are synced", metadata: ["client.id": "\(client.id)", "waiting": "\(waiting)"])
        return true
    }

    /// Answers the held requests whose inputs are synced now, and refuses
    /// those past their wait with `not-ready`.
    func releaseHeldSubscribes(now: UInt64) {
        guard !heldSubscribes.isEmpty else { return }
        var still: [HeldSubscribe] = []
        for held in heldSubscribes {
            let waiting = unsyncedInputs(of: held.tables)
            if waiting.isEmpty {
                // Nil when its snapshots are being sorted: it then waits for them (`Node+Captures.swift`).
                if let reply = reply(to: held.command, id: held.id, client: held.client, envelope: held.envelope) { send(reply, to: held.envelope) }
            } else if now >= held.deadline {
                send(refuse(op: held.command.op, id: held.id, notReady(waiting), client: held.client), to: held.envelope)
            } else {
                still.append(held)
            }
        }
        heldSubscribes = still
    }

    func unsyncedInputs(of tables: [TableID]) -> [TableID] {
        Set(tables.flatMap { behavior.unsyncedInputs(of: $0) }).sorted()
    }

    func notReady(_ waiting: [TableID]) -> BusError {
        BusError(.notReady, "no snapshot yet of \(waiting.map(\.description).joined(separator: ", ")), which the tables read; ask again later")
    }
}
