import Logging
import Monitoring
import PolicyEngine
import ZeroMQ

/// Where a table the engine reads from a peer stands, as the operator sees
/// it: in the log, in `/readyz` and `status`, and in the peer metrics.
enum PeerTableHealth: Equatable {
    /// Subscribed, no snapshot yet.
    case waiting
    case synced
    /// The publisher went silent: the peer is down or unreachable.
    case lost
    /// A fresh snapshot is on its way after a gap, a new epoch or a lost lease.
    case resyncing(String)
}

extension EngineBehavior {
    /// The engine subscribed to `table` at its peer.
    func peerTableWanted(_ table: TableID) {
        peerHealth[table] = .waiting
        syncStarted[table] = monotonicNanoseconds()
        context.monitor.peerTable(table.description, synced: false, reason: "waiting for the first snapshot from \(table.service)")
    }

    /// No peer can serve `table` now (none configured, or it refused).
    func peerTableUnavailable(_ table: TableID, reason: String) {
        peerHealth[table] = nil
        context.monitor.peerTable(table.description, synced: false, reason: reason)
    }

    /// The rules no longer read `table`.
    func peerTableDropped(_ table: TableID) {
        peerHealth[table] = nil
        overBudget[table] = nil
        syncedOnce.remove(table)
        syncStarted[table] = nil
        context.monitor.peerTableDropped(table.description)
    }

    /// Follows a peer table's snapshots and resyncs: a loss is logged at
    /// warning, a table back in step at notice, and readiness follows.
    func peerTableChanged(_ table: TableID, _ change: TableSubscription.Event) {
        var metadata: Logger.Metadata = ["table": "\(table)", "peer": "\(table.service)"]
        switch change {
        case .snapshot, .resumed:
            // How long the table waited (a large snapshot takes a while): logged with its sync.
            if let start = syncStarted.removeValue(forKey: table) {
                metadata["sync.ms"] = "\((monotonicNanoseconds() - start) / 1_000_000)"
            }
            if case .snapshot(let rows, _) = change { metadata["rows"] = "\(rows.count)" }
            switch peerHealth[table] {
            case .lost: logger.notice("peer table regained", metadata: metadata)
            case .resyncing(let reason): logger.notice("peer table resynced", metadata: metadata.merging(["reason": "\(reason)"]) { $1 })
            case .waiting: logger.info("peer table synced", metadata: metadata)
            case .synced, nil: break
            }
            peerHealth[table] = .synced
            syncedOnce.insert(table)
            // Over the budget, it stays failed until its rows fit (`peerTableWithinBudget`).
            if overBudget[table] == nil { context.monitor.peerTable(table.description, synced: true) }
        case .resync(let reason):
            context.monitor.peerTableResynced(table.description)
            syncStarted[table] = syncStarted[table] ?? monotonicNanoseconds()
            if reason == .silence {
                let silence = 3 * (peers.first { $0.service == table.service }?.connection.session.heartbeatMilliseconds ?? 1000)
                logger.warning("peer table lost: nothing heard for \(silence) ms", metadata: metadata)
                peerHealth[table] = .lost
                context.monitor.peerTable(table.description, synced: false, reason: "lost: nothing heard from \(table.service) for \(silence) ms")
            } else {
                // After a loss, the table stays lost until it is back.
                if peerHealth[table] != .lost { peerHealth[table] = .resyncing(reason.rawValue) }
                logger.info("peer table resyncing", metadata: metadata.merging(["reason": "\(reason.rawValue)"]) { $1 })
                context.monitor.peerTable(table.description, synced: false, reason: "resyncing (\(reason.rawValue))")
            }
        case .delta:
            break
        }
    }

    /// The peer tables `table` reads, subscribed at a peer, with no snapshot
    /// yet. Tables no peer serves, or refused, are not waited for: they
    /// would not come (the log, `status` and `/readyz` say why).
    func unsyncedInputs(of table: TableID) -> [TableID] {
        engine.remoteInputs(of: table).filter { remote.contains($0) && !syncedOnce.contains($0) }.sorted()
    }

    /// The peer tables `table` reads that were synced and are lost or
    /// resyncing now, or whose data went over the peer transaction budget:
    /// `table` keeps its last contents, possibly out of date.
    func staleInputs(of table: TableID) -> [TableID] {
        engine.remoteInputs(of: table).filter { input in
            if overBudget[input] != nil { return true }
            switch peerHealth[input] {
            case .lost?, .resyncing?: return true
            case .waiting?, .synced?, nil: return false
            }
        }.sorted()
    }

    /// The seq lag of every peer table, each tick.
    func recordPeerLag() {
        for (_, connection) in peers {
            for (table, subscription) in connection.session.subscriptions {
                context.monitor.peerTable(table.description, lag: Int(clamping: subscription.seqLag))
            }
        }
    }

    /// Times one engine transaction for the apply-time histogram.
    func timed<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let start = monotonicNanoseconds()
        defer { context.monitor.transactionApplied(nanoseconds: monotonicNanoseconds() - start) }
        return try body()
    }
}
