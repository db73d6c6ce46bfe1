import Logging
import PolicyEngine
import ZeroMQ

/// A peer table whose data went over the peer transaction budget.
struct PeerOverBudget {
    /// What ran out (the refusal's message).
    var reason: String
    /// The peer's seq of the table at the refusal: a retry waits for new
    /// data, unless the refusal was for time.
    var seq: UInt64
    /// Refused for time, which a busy machine may cause: retried with the
    /// same data too. Rows or bytes run out the same way again on the same data.
    var outOfTime: Bool
    /// The wait before the next retry: a refusal costs up to the whole
    /// budget, so retries are spaced by twice what the last one took (at
    /// most a third of the engine's time goes to refused retries); retries
    /// of the same data wait twice as long each time, up to `longestPause`.
    var pause: UInt64
    /// No retry before this (monotonic ns).
    var retryAt: UInt64

    static let longestPause: UInt64 = 300 * 1_000_000_000
}

/// Peers' data runs within a budget (`EngineSetup.peerBudget`), as a
/// client's change does: a peer's client may `facts replace` a few thousand
/// rows into a table that a rule joins with itself, and the engine would
/// derive tens of millions of rows, with no bound on its memory.
///
/// A peer table whose change goes over the budget is rolled back (its
/// change, not the other tables' in the batch): the engine keeps the
/// table's rows from before, and every table derived from it is stale
/// (`status` `stale_inputs`, `/readyz` fails its peer-table check), logged
/// at error and counted (`policybus_peer_table_refused_total`). The engine
/// never applies the table's later deltas to those old rows, which would
/// diverge from the peer for good: once the peer's table has moved on and a
/// pause has passed, it takes the peer's rows whole (`replace`, from the
/// subscription's copy), within the same budget, and the table is back in
/// step once that fits. A table refused for time is retried so without new
/// data too, at growing pauses: a quiet peer's table stays stale no longer
/// than the machine stays busy.
extension EngineBehavior {
    /// The batch went over the budget, or failed otherwise: applies each
    /// table's change alone, so that one table's change does not hold back
    /// the others'. A table refused here skips its later changes in the batch.
    func applyOneByOne(_ single: [(table: TableID?, change: Transaction)]) {
        for (table, change) in single {
            if let table, overBudget[table] != nil { continue }
            let start = monotonicNanoseconds()
            do {
                try timed { () throws(PolicyError) in try engine.load(change, budget: peerBudget) }
            } catch {
                if context.loop.isStopping { return }
                guard error.code == .tooExpensive, let table else {
                    logger.warning("cannot apply a peer's change", metadata: ["error": "\(error)"])
                    continue
                }
                peerTableOverBudget(table, error, tookNanoseconds: monotonicNanoseconds() - start)
            }
        }
    }

    /// Each tick: a table over the budget whose peer has moved on since (or
    /// that ran out of time), and whose pause has passed, takes the peer's rows whole.
    func retryOverBudget(now: UInt64) {
        for (table, state) in overBudget.sorted(by: { $0.key < $1.key })
        where now >= state.retryAt && (state.outOfTime || peerSeq(of: table) != state.seq) {
            var whole = Transaction()
            whole.replace(table, with: peerRows(of: table))
            let start = monotonicNanoseconds()
            do {
                try timed { () throws(PolicyError) in try engine.load(whole, budget: peerBudget) }
                peerTableWithinBudget(table)
            } catch {
                if context.loop.isStopping { return }
                peerTableOverBudget(table, error, tookNanoseconds: monotonicNanoseconds() - start)
            }
        }
    }

    private func subscription(of table: TableID) -> TableSubscription? {
        peers.first(where: { $0.service == table.service })?.connection.session.subscriptions[table]
    }

    /// The rows the peer has now for `table`: the subscription's copy,
    /// which follows every snapshot and delta whether or not the engine applied it.
    /// (A set, as a peer snapshot's goes into its transaction: no step copies a million rows into an array.)
    func peerRows(of table: TableID) -> Set<[Value]> { subscription(of: table)?.rows ?? [] }

    private func peerSeq(of table: TableID) -> UInt64 { subscription(of: table)?.seq ?? 0 }

    /// `table`'s change went over the budget (or failed otherwise, when
    /// retried whole) and was rolled back.
    func peerTableOverBudget(_ table: TableID, _ error: PolicyError, tookNanoseconds: UInt64) {
        let earlier = overBudget[table]
        let first = earlier == nil
        let seq = peerSeq(of: table)
        var pause = max(.milliseconds(1000), 2 * tookNanoseconds)
        if let earlier, earlier.seq == seq { pause = min(max(pause, 2 * earlier.pause), PeerOverBudget.longestPause) }
        overBudget[table] = PeerOverBudget(
            reason: error.message, seq: seq, outOfTime: error.exhausted == .time, pause: pause, retryAt: monotonicNanoseconds() + pause)
        context.monitor.peerTableRefused(table.description)
        context.monitor.peerTable(table.description, synced: false, reason: "over the peer transaction budget: \(error.message)")
        let metadata: Logger.Metadata = ["table": "\(table)", "peer": "\(table.service)", "error": "\(error)", "retry.ms": "\(pause / 1_000_000)"]
        if first {
            logger.error("peer data over the peer transaction budget: rolled back; the tables derived from it keep their rows and are stale until it fits", metadata: metadata)
        } else {
            logger.warning("peer data still over the peer transaction budget", metadata: metadata)
        }
    }

    /// `table` took the peer's rows whole within the budget: back in step.
    func peerTableWithinBudget(_ table: TableID) {
        guard overBudget.removeValue(forKey: table) != nil else { return }
        logger.notice("peer table back within the peer transaction budget", metadata: ["table": "\(table)", "peer": "\(table.service)"])
        if peerHealth[table] == .synced { context.monitor.peerTable(table.description, synced: true) }
    }
}
