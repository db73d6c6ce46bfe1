import Dispatch
import Synchronization

/// What `/livez` and `/readyz` report. A node's poll loop writes it; the HTTP
/// listener's thread reads it. Neither side ever waits on the other for long:
/// the loop's heartbeat is one atomic store per turn, and readiness changes
/// (rare: a log replayed, a peer table lost or synced) take a short lock.
public final class HealthState: Sendable {
    /// Something that keeps a node from being ready.
    public struct Check: Hashable, Sendable, Comparable {
        /// `durable-log`, `peer-table`, `poll-loop` or `upstream`.
        public var kind: String
        /// The table, for a `peer-table`; the endpoint, for an `upstream`.
        public var name: String?

        public static let durableLog = Check(kind: "durable-log", name: nil)
        public static let pollLoop = Check(kind: "poll-loop", name: nil)
        public static func peerTable(_ table: String) -> Check { Check(kind: "peer-table", name: table) }
        /// A relay's upstream control endpoint.
        public static func upstream(_ endpoint: String) -> Check { Check(kind: "upstream", name: endpoint) }

        public static func < (lhs: Check, rhs: Check) -> Bool {
            (lhs.kind, lhs.name ?? "") < (rhs.kind, rhs.name ?? "")
        }
    }

    /// A check that fails, and why, in words for the operator.
    public struct Failure: Hashable, Sendable {
        public var check: Check
        public var reason: String

        public init(check: Check, reason: String) {
            self.check = check
            self.reason = reason
        }
    }

    /// The monotonic time of the poll loop's last turn, in nanoseconds; 0
    /// until it first turns.
    private let lastTurn = Atomic<UInt64>(0)
    private let failing = Mutex<[Check: String]>([:])
    /// How long the loop may go without turning before it counts as stalled.
    public let stallLimitNanoseconds: UInt64

    /// - Parameter stallLimitNanoseconds: a node's loop turns at least every
    ///   100 ms; the default allows 30 missed turns on a loaded machine.
    public init(stallLimitNanoseconds: UInt64 = 3_000_000_000) {
        self.stallLimitNanoseconds = stallLimitNanoseconds
    }

    // MARK: - Written by the poll loop

    /// Call once per turn of the poll loop.
    @inline(__always)
    public func loopTurned(now: UInt64 = HealthState.now()) {
        lastTurn.store(now, ordering: .relaxed)
    }

    /// The clock both sides read: monotonic, in nanoseconds.
    @inline(__always)
    public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Marks `check` as failing, e.g. a peer table that lost its publisher.
    public func fail(_ check: Check, _ reason: String) {
        failing.withLock { $0[check] = reason }
    }

    /// Marks `check` as passing again.
    public func pass(_ check: Check) {
        _ = failing.withLock { $0.removeValue(forKey: check) }
    }

    // MARK: - Read by the listener

    /// Why the loop is not live, or nil when it turned recently.
    public func livenessFailure(now: UInt64 = HealthState.now()) -> Failure? {
        let last = lastTurn.load(ordering: .relaxed)
        if last == 0 { return Failure(check: .pollLoop, reason: "not started") }
        let silence = now > last ? now - last : 0
        guard silence > stallLimitNanoseconds else { return nil }
        return Failure(check: .pollLoop, reason: "no turn for \(silence / 1_000_000) ms")
    }

    /// Every failing check, in a stable order; empty when the node is ready.
    public func readinessFailures(now: UInt64 = HealthState.now()) -> [Failure] {
        let checks = failing.withLock { $0 }.map { Failure(check: $0.key, reason: $0.value) }.sorted { $0.check < $1.check }
        return (livenessFailure(now: now).map { [$0] } ?? []) + checks
    }
}
