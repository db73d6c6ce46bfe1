// BusBench: end-to-end latency through one engine rule, the highest
// sustained update rate, and the publish path against raw libzmq.
// Prints figures only; the baseline (raw libzmq) is measured in the same run.

import CoreMetrics
import Foundation
import Monitoring
import PolicyBus
import PolicyEngine
import Synchronization
import ZeroMQ

// MARK: - Helpers

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))
    return Double(sorted[index]) / 1000
}

func format(_ value: Double) -> String { String(format: "%.1f", value) }

/// CPU time (user + system) used so far by the whole process, all threads,
/// in microseconds. Per update it is the figure that load from other
/// processes does not inflate much (wall-clock latency it inflates a lot).
func processCPUMicroseconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    func micros(_ time: timeval) -> Double { Double(time.tv_sec) * 1e6 + Double(time.tv_usec) }
    return micros(usage.ru_utime) + micros(usage.ru_stime)
}

/// `--spin-pacer`: the old pacer, which spins when the next update is near.
let spinPacer = CommandLine.arguments.contains("--spin-pacer")

/// Waits until `deadline` (monotonic ns).
///
/// It sleeps (absolute deadline, so lateness does not accumulate: a late
/// wake-up sends the updates that are due back to back). Spinning would be
/// more punctual, but at 10k/s the next update is always near, so a spinning
/// pacer holds one of the machine's two cores and the node threads being
/// measured queue for the other. Each update is stamped when it is
/// submitted, so a late pacer does not bias the latency.
///
/// The sustained-rate runs spin (`spin: true`): there the offered rate is
/// the point, and a sleep costs more than the 2.5-50 us between updates.
func pace(until deadline: UInt64, spin: Bool = spinPacer) {
    if spin {
        while true {
            let now = monotonicNanoseconds()
            if now >= deadline { return }
            if deadline - now > 200_000 { usleep(UInt32((deadline - now - 100_000) / 1000)) }
        }
    }
    var wake = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nil) == EINTR {}
}

/// A data source and an engine (rule `p(x, t) :- data:q(x, t), x >= 0`) on their own threads.
struct Cluster {
    let source: NodeThread
    let engine: NodeThread

    /// - Parameter metrics: where both nodes record their metrics, as with
    ///   `--metrics`; nil: the no-op backend, as without it.
    static func start(metrics: (any MetricsFactory)? = nil) throws -> Cluster {
        let source = try NodeThread.start(name: "bench-source") { () throws(BusError) -> Node in
            var options = NodeOptions(name: "data", control: "tcp://127.0.0.1:*")
            options.metricsFactory = metrics
            options.logger.logLevel = .warning
            options.limits.maxRowsPerRequest = 10_000_000
            return try Node.dataSource(options, schema: ["q": ["x", "t"]], context: try makeContext())
        }
        let sourceEndpoint = source.controlEndpoint
        let engine = try NodeThread.start(name: "bench-engine") { () throws(BusError) -> Node in
            var options = NodeOptions(name: "engine", control: "tcp://127.0.0.1:*")
            options.metricsFactory = metrics
            options.logger.logLevel = .warning
            options.sendHighWaterMark = 1_000_000
            let setup = EngineSetup(policies: [("bench", "p(x, t) :- data:q(x, t), x >= 0")], peers: ["data": sourceEndpoint])
            return try Node.engine(options, setup: setup, context: try makeContext())
        }
        return Cluster(source: source, engine: engine)
    }

    func stop() {
        engine.stop()
        source.stop()
    }

    /// `+q(x, t)` at the data source, as `publish` would apply a stdin line.
    func insert(_ x: Int64, stamp: UInt64) {
        source.control.submit { node in
            try? node.applyFacts([.insert(table: "q", row: [.int(x), .int(Int64(stamp))])])
        }
    }

    func clear() {
        source.control.submit { node in try? node.applyFacts([.replace(table: "q", rows: [])]) }
    }
}

func makeContext() throws(BusError) -> Context {
    do { return try Context() } catch { throw BusError(.transport, "\(error)") }
}

/// A subscriber to `bench:p` on its own thread that records, for every added
/// row, now minus the row's stamp (column 2).
final class LatencyProbe: Sendable {
    let latencies = Mutex<[UInt64]>([])
    let rowCount = Mutex(0)
    let synced = Mutex(false)
    let remote: PollLoop.Remote
    let thread: Mutex<BlockingThread?> = Mutex(nil)

    /// - Parameter context: shared by many probes (`--fanout`), so that 500
    ///   of them do not start 500 libzmq I/O threads; nil: a context of its own.
    init(endpoint: String, context: Context? = nil) {
        let loop = try! PollLoop()
        remote = loop.remote
        let started = BlockingThread(name: "bench-probe") { [self] in run(endpoint, context: context, on: loop) }
        thread.withLock { $0 = started }
    }

    func run(_ endpoint: String, context shared: Context?, on loop: PollLoop) {
        guard let context = shared ?? (try? Context()),
            let connection = try? SubscriptionConnection(loop: loop, context: context, controlEndpoint: endpoint, receiveHighWaterMark: 1_000_000)
        else { return }
        let table = TableID("bench:p")!
        var local: [UInt64] = []
        local.reserveCapacity(1 << 20)
        connection.onEvents = { [unowned connection, self] events in
            let now = monotonicNanoseconds()
            for event in events {
                if case .table(_, .delta(let added, _, _)) = event {
                    for row in added { if case .int(let stamp) = row[1], stamp > 0 { local.append(now - UInt64(stamp)) } }
                }
            }
            if !local.isEmpty {
                latencies.withLock { $0 += local }
                local.removeAll(keepingCapacity: true)
            }
            let count = connection.session.rows(of: table)?.count ?? -1
            rowCount.withLock { $0 = count }
            synced.withLock { $0 = connection.session.isSynced }
        }
        connection.subscribe([table])
        try? loop.run()
        connection.unsubscribeAll(timeoutMilliseconds: 200)
        connection.close()
    }

    func take() -> [UInt64] { latencies.withLock { value in defer { value = [] }; return value } }

    func waitForRows(_ count: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if rowCount.withLock({ $0 }) == count { return true }
            usleep(1000)
        }
        return false
    }

    func stop() {
        remote.stop()
        thread.withLock { $0 }?.join()
    }
}

// MARK: - 1. Latency

/// Inserts rows `base..<base + count` at `rate` per second, each stamped
/// with its submission time.
func sendPaced(cluster: Cluster, rate: Int, count: Int, base: Int64) {
    let interval = UInt64(1e9 / Double(rate))
    var next = monotonicNanoseconds()
    for index in 0..<count {
        pace(until: next)
        cluster.insert(base + Int64(index), stamp: monotonicNanoseconds())
        next += interval
    }
}

func latency(cluster: Cluster, probe: LatencyProbe, rate: Int, seconds: Double, base: Int64, label: String = "") -> Int64 {
    let count = Int(Double(rate) * seconds)
    _ = probe.take()
    let cpuBefore = processCPUMicroseconds()
    sendPaced(cluster: cluster, rate: rate, count: count, base: base)
    let converged = probe.waitForRows(Int(base) + count, timeout: 10)
    let cpu = (processCPUMicroseconds() - cpuBefore) / Double(count)
    let sorted = probe.take().sorted()
    print("latency\(label)  rate=\(rate)/s  updates=\(count)  received=\(sorted.count)  p50=\(format(percentile(sorted, 0.5))) us  p99=\(format(percentile(sorted, 0.99))) us  max=\(format(percentile(sorted, 1.0))) us  cpu=\(format(cpu)) us/update\(converged ? "" : "  (did not converge)")")
    return base + Int64(count)
}

// MARK: - 2. Highest sustained rate

/// Sends `rate` updates per second for one second, then checks that the
/// subscriber holds every row within a second after the last one.
func sustained(cluster: Cluster, probe: LatencyProbe, rate: Int, base: Int64) -> (Bool, Double, Int64) {
    let count = rate
    let interval = UInt64(1e9 / Double(rate))
    let start = monotonicNanoseconds()
    var next = start
    for index in 0..<count {
        pace(until: next, spin: true)
        cluster.insert(base + Int64(index), stamp: 0)
        next += interval
    }
    let sent = monotonicNanoseconds()
    let converged = probe.waitForRows(Int(base) + count, timeout: 1)
    let achieved = Double(count) / (Double(sent - start) / 1e9)
    let done = monotonicNanoseconds()
    print("sustain  target=\(rate)/s  offered=\(Int(achieved))/s  \(converged ? "converged \(format(Double(done - sent) / 1e6)) ms after the last update" : "NOT converged within 1 s")")
    return (converged, achieved, base + Int64(count))
}

// MARK: - 3. Publish path vs raw libzmq

/// A SUB that drains a PUB on its own thread, counting messages.
final class Drain: Sendable {
    let received = Mutex(0)
    let remote: PollLoop.Remote
    let thread: Mutex<BlockingThread?> = Mutex(nil)

    init(context: Context, endpoint: String, topic: [UInt8]) {
        let loop = try! PollLoop()
        remote = loop.remote
        let started = BlockingThread(name: "bench-drain") { [self] in
            guard let sub = try? Socket(context, .sub) else { return }
            try? sub.set(.receiveHighWaterMark, 0)
            try? sub.set(.subscribe, topic)
            try? sub.connect(endpoint)
            var count = 0
            loop.add(sub) { _ in
                while (try? sub.tryReceive()) != nil { count += 1 }
                self.received.withLock { $0 = count }
            }
            try? loop.run()
            sub.close()
        }
        thread.withLock { $0 = started }
    }

    func stop() {
        remote.stop()
        thread.withLock { $0 }?.join()
    }
}

/// What the engine node's trigger callback does for each delta.
@inline(never)
func publishAll(_ deltas: [TableDelta], from start: TablePublisher, to pub: Socket) throws {
    var publisher = start
    for delta in deltas {
        if let frame = publisher.publishExact(delta.table, added: delta.added, removed: delta.removed) {
            try pub.sendFrame(frame, more: false)
        }
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func publishPath(messages: Int, rounds: Int) throws {
    let context = try Context()
    let table = TableID("bench:p")!

    func run(_ label: String, count expected: Int = messages, _ body: (Socket) throws -> Void) throws -> Double {
        let pub = try Socket(context, .pub)
        try pub.set(.sendHighWaterMark, 0)
        try pub.bind("tcp://127.0.0.1:*")
        let drain = Drain(context: context, endpoint: try pub.lastEndpoint, topic: DataMessage.topic(table))
        usleep(200_000)  // let the subscription reach the PUB
        let start = monotonicNanoseconds()
        try body(pub)
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        let rate = Double(expected) / elapsed
        let deadline = Date().addingTimeInterval(10)
        while drain.received.withLock({ $0 }) < expected && Date() < deadline { usleep(1000) }
        drain.stop()
        pub.close()
        print("publish  \(label): \(Int(rate)) msgs/s (\(drain.received.withLock { $0 }) of \(expected) received)")
        return rate
    }

    // The trigger path as the engine node runs it: the trigger hands an exact
    // delta to the TablePublisher, which bumps the seq, encodes the delta and
    // sends one frame (the engine itself keeps the table's rows). Steady
    // state: each delta adds one row and removes another.
    let live = 1000
    func row(_ index: Int) -> Row { [.int(Int64(index)), .int(1_700_000_000_000_000_000)] }
    let deltas: [TableDelta] = (0..<messages).map { index in
        TableDelta(table: table, added: [row(live + index)], removed: [row(index)])
    }
    // `--no-history`: the publish path without the delta history (resumes), to see its cost.
    let history = CommandLine.arguments.contains("--no-history") ? DeltaHistory.Bounds(deltas: 0) : DeltaHistory.Bounds()
    var external = TablePublisher(node: "engine", history: history)
    external.openExternal(table)
    var probe = external
    let sample = probe.publishExact(table, added: deltas[0].added, removed: deltas[0].removed)!
    // The data source variant keeps the rows too (a 1000-row table).
    var owning = TablePublisher(node: "engine")
    owning.open(table, rows: (0..<live).map(row))
    // What the delta history (for resumes) costs: the engine table without one.
    var historyless = TablePublisher(node: "engine", history: .init(deltas: 0))
    historyless.openExternal(table)
    for (label, publisher) in [
        ("engine table (seq + encoding\(history.deltas > 0 ? " + history" : ""))", external), ("engine table, no history", historyless),
        ("data source table (rows + seq + encoding + history)", owning),
    ] {
        var alone = publisher
        var bytes = 0
        let start = monotonicNanoseconds()
        for delta in deltas { bytes &+= alone.publishExact(delta.table, added: delta.added, removed: delta.removed)?.count ?? 0 }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        print("publish  TablePublisher alone, \(label), no socket: \(Int(Double(messages) / elapsed)) deltas/s (\(bytes / messages) bytes each)")
    }
    // The receiving side of each hop (engine and subscriber): decoding a delta.
    do {
        var frames: [[UInt8]] = []
        frames.reserveCapacity(1000)
        var writer = external
        for delta in deltas.prefix(1000) {
            frames.append(writer.publishExact(delta.table, added: delta.added, removed: delta.removed)!)
        }
        var rows = 0
        let start = monotonicNanoseconds()
        for round in 0..<messages {
            if case .delta(let delta) = try DataMessage(decoding: frames[round % frames.count]) { rows &+= delta.added.count }
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        // Baseline: the general path (a JSON tree, then rows from it), which
        // is how every delta was decoded before the fast path.
        let generalStart = monotonicNanoseconds()
        for round in 0..<messages {
            let frame = frames[round % frames.count]
            let body = try JSON.parse(frame[(frame.firstIndex(of: 0x20)! + 1)...])
            rows &+= try RowCodec.rows(body["added"]!).count + RowCodec.rows(body["removed"]!).count
        }
        let general = Double(monotonicNanoseconds() - generalStart) / 1e9
        print("decode   DataMessage(decoding:) of those deltas: \(Int(Double(messages) / elapsed)) msgs/s; general JSON path: \(Int(Double(messages) / general)) msgs/s (\(format(general / elapsed))x slower)")
    }
    // Rounds alternate the two, so load from other processes hits both alike.
    var triggerRates: [Double] = []
    var rawRates: [Double] = []
    for _ in 0..<rounds {
        triggerRates.append(try run("trigger -> TablePublisher -> PUB (\(sample.count)-byte frames)") { pub in
            try publishAll(deltas, from: external, to: pub)
        })
        rawRates.append(try run("raw libzmq PUB, same-sized prebuilt frames") { pub in
            for _ in 0..<messages { try pub.sendFrame(sample, more: false) }
        })
    }
    let trigger = median(triggerRates)
    let raw = median(rawRates)
    print("publish  medians over \(rounds) rounds: trigger path \(Int(trigger)) deltas/s, raw libzmq \(Int(raw)) msgs/s")
    print("publish  ratio: \(format(100 * trigger / raw))% of raw libzmq (goal >= 50%)")

    // For reference: the whole engine transaction + trigger + publish.
    let engine = Engine()
    try engine.createPolicy("bench")
    var setup = Transaction()
    setup.insertRules("p(x, t) :- data:q(x, t), x >= 0", policy: "bench")
    try engine.apply(setup)
    var enginePublisher = TablePublisher(node: "engine")
    enginePublisher.open(table)
    let engineMessages = min(messages, 100_000)
    let full = try run("engine.apply(+q) -> trigger -> PUB (\(engineMessages) transactions)", count: engineMessages) { pub in
        engine.addTrigger(on: table) { delta in
            if let frame = enginePublisher.publishExact(delta.table, added: delta.added, removed: delta.removed) {
                _ = try? pub.sendFrame(frame, more: false)
            }
        }
        for index in 0..<engineMessages {
            var transaction = Transaction()
            transaction.insert([.int(Int64(index)), .int(1)], into: TableID("data:q")!)
            try engine.apply(transaction)
        }
    }
    _ = full
}

// MARK: - Main

let arguments = CommandLine.arguments
let quick = arguments.contains("--quick")
if arguments.contains("--metrics") {
    do {
        try metricsComparison(rounds: quick ? 1 : 5, seconds: quick ? 1 : 3)
        exit(0)
    } catch {
        print("BusBench failed: \(error)")
        exit(1)
    }
}
if arguments.contains("--ingress") {
    ingress(rounds: quick ? 3 : 7)
    exit(0)
}
if let index = arguments.firstIndex(of: "--fanout") {
    let listed = arguments.dropFirst(index + 1).first?.split(separator: ",").compactMap { Int($0) } ?? []
    let counts = listed.isEmpty ? [1, 10, 100, 500] : listed
    do {
        try fanOut(subscriberCounts: counts, rate: 10_000, seconds: quick ? 1 : 2)
        exit(0)
    } catch {
        print("BusBench failed: \(error)")
        exit(1)
    }
}
if let index = arguments.firstIndex(of: "--relay") {
    let subscribers = arguments.dropFirst(index + 1).first.flatMap { Int($0) } ?? 200
    let rate = arguments.firstIndex(of: "--rate").flatMap { arguments.dropFirst($0 + 1).first.flatMap { Int($0) } } ?? 1000
    do {
        try relayComparison(subscribers: subscribers, rate: rate, seconds: quick ? 1 : 2)
        exit(0)
    } catch {
        print("BusBench failed: \(error)")
        exit(1)
    }
}
if arguments.contains("--resume") || arguments.contains("--resume-only") {
    do {
        try resumeComparison(rows: quick ? 100_000 : 1_000_000, gap: 100, rounds: quick ? 1 : 3)
    } catch {
        print("BusBench failed: \(error)")
        exit(1)
    }
    if arguments.contains("--resume-only") { exit(0) }
}
print("BusBench (\(quick ? "quick" : "full")): loopback tcp, one data source, one engine rule, one subscriber")
do {
    if !arguments.contains("--latency-only") {
        try publishPath(messages: quick ? 100_000 : 500_000, rounds: quick ? 3 : 5)
    }
    if arguments.contains("--publish-only") { exit(0) }
    let cluster = try Cluster.start()
    let probe = LatencyProbe(endpoint: cluster.engine.controlEndpoint)
    usleep(500_000)
    var base: Int64 = 0
    base = latency(cluster: cluster, probe: probe, rate: 1000, seconds: quick ? 1 : 3, base: base)
    base = latency(cluster: cluster, probe: probe, rate: 10_000, seconds: quick ? 1 : 3, base: base)
    var best = 0.0
    for rate in arguments.contains("--no-sustain") ? [] : [20_000, 50_000, 100_000, 200_000, 400_000] {
        let (converged, achieved, next) = sustained(cluster: cluster, probe: probe, rate: rate, base: base)
        base = next
        if converged { best = max(best, achieved) } else { break }
    }
    print("sustain  highest rate with the subscriber converging within 1 s: \(Int(best)) updates/s")
    probe.stop()
    cluster.stop()
} catch {
    print("BusBench failed: \(error)")
    exit(1)
}
