import Foundation
import PolicyBus
import Synchronization
import ZeroMQ

// MARK: - 6. Fan-out on one node

/// For each count, a fresh cluster and that many subscribers of `bench:p`
/// (`LatencyProbe`s on their own threads, a client context per 100), then
/// `rate` paced updates per second for `seconds`. Prints the latency over
/// every subscriber's deltas, the node's CPU per update, and whether every
/// subscriber ended holding every row.
func fanOut(subscriberCounts: [Int], rate: Int, seconds: Double) throws {
    print("BusBench --fanout: subscribers of one engine table at \(rate) updates/s, \(format(seconds)) s each, a fresh cluster per count")
    for subscribers in subscriberCounts {
        try fanOutRun(subscribers: subscribers, rate: rate, count: Int(Double(rate) * seconds))
    }
}

private func fanOutRun(subscribers: Int, rate: Int, count: Int) throws {
    try fanOutRun(label: "fanout", subscribers: subscribers, rate: rate, count: count) { cluster in
        FanOutTargets(endpoints: [cluster.engine.controlEndpoint], stop: {})
    }
}

/// Where a fan-out run's subscribers connect (subscriber i to endpoint
/// i mod count), and how to stop what was started for it (relays).
struct FanOutTargets {
    var endpoints: [String]
    var stop: () -> Void
}

/// One fan-out run: a fresh cluster, `targets` made for it, that many
/// subscribers spread over the targets' endpoints, `count` paced updates.
/// The threads `targets` starts (relays, their libzmq I/O) are timed apart
/// from the nodes'.
func fanOutRun(label: String, subscribers: Int, rate: Int, count: Int, targets make: (Cluster) throws -> FanOutTargets) throws {
    let before = threadIDs()
    let cluster = try Cluster.start()
    defer { cluster.stop() }
    // The nodes' libzmq I/O threads (source and engine): they write each
    // delta to every subscriber's TCP connection, so the fan-out's cost is
    // mostly theirs. The subscribers' context starts after, so is not counted.
    let nodeIO = threadIDs().subtracting(before).filter { threadName($0).hasPrefix("ZMQbg") }
    let beforeTargets = threadIDs()
    let targets = try make(cluster)
    defer { targets.stop() }
    let relayThreads = threadIDs().subtracting(beforeTargets)
    // A subscriber holds four libzmq sockets (DEALER, SUB, and its monitor's
    // pair), and a context allows 1023: one context per 100 subscribers.
    let contexts = try (0..<(subscribers + 99) / 100).map { _ in try Context(ioThreads: 2) }
    let probes = (0..<subscribers).map { LatencyProbe(endpoint: targets.endpoints[$0 % targets.endpoints.count], context: contexts[$0 / 100]) }
    defer {
        for probe in probes { probe.remote.stop() }  // all at once: each unsubscribes as it stops
        for probe in probes { probe.stop() }
    }
    guard waitUntil(seconds: 120, { probes.allSatisfy { $0.synced.withLock { $0 } } }) else {
        print("\(label)   subscribers=\(subscribers): not all subscribers synced within 120 s")
        return
    }
    let engineBefore = engineThreadCPU(cluster), ioBefore = threadsCPU(nodeIO), relaysBefore = threadsCPU(relayThreads)
    let start = monotonicNanoseconds()
    sendPaced(cluster: cluster, rate: rate, count: count, base: 0)
    let sent = monotonicNanoseconds()
    let converged = waitUntil(seconds: 300) { probes.allSatisfy { $0.rowCount.withLock { $0 } == count } }
    let done = monotonicNanoseconds()
    let engine = (engineThreadCPU(cluster) - engineBefore) / Double(count)
    let io = (threadsCPU(nodeIO) - ioBefore) / Double(count)
    let relays = relayThreads.isEmpty ? "" : "  relays (loops + zmq I/O)=\(format((threadsCPU(relayThreads) - relaysBefore) / Double(count))) us/update"
    let equal = probes.filter { $0.rowCount.withLock { $0 } == count }.count
    let sorted = probes.flatMap { $0.take() }.sorted()
    let delivered = Double(sorted.count) / (Double(done - start) / 1e9)
    print("\(label)   subscribers=\(subscribers)  offered=\(Int(Double(count) / (Double(sent - start) / 1e9)))/s  deltas received=\(sorted.count) of \(count * subscribers)  delivered=\(Int(delivered))/s  p50=\(format(percentile(sorted, 0.5))) us  p99=\(format(percentile(sorted, 0.99))) us  max=\(format(percentile(sorted, 1.0))) us  engine thread=\(format(engine)) us/update  node zmq I/O=\(format(io)) us/update\(relays)  last subscriber converged \(format(Double(done - sent) / 1e6)) ms after the last update  equal: \(equal) of \(subscribers) hold all \(count) rows\(converged ? "" : "  (NOT converged within 300 s)")")
}

/// Polls `condition` every millisecond until it holds or `seconds` pass.
private func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// The engine node's loop thread's CPU time so far, in microseconds, read on that thread.
private func engineThreadCPU(_ cluster: Cluster) -> Double {
    let result = Mutex(0.0)
    let read = DispatchSemaphore(value: 0)
    cluster.engine.control.submit { _ in
        result.withLock { $0 = Double(threadCPUNanoseconds()) / 1000 }
        read.signal()
    }
    read.wait()
    return result.withLock { $0 }
}

private func threadIDs() -> Set<Int> {
    Set(((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []).compactMap { Int($0) })
}

private func threadName(_ id: Int) -> String {
    ((try? String(contentsOfFile: "/proc/self/task/\(id)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
}

/// User + system CPU time of these threads so far, in microseconds
/// (`/proc/self/task/ID/stat`, clock-tick resolution).
private func threadsCPU(_ ids: Set<Int>) -> Double {
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    return ids.reduce(0) { total, id in
        guard let stat = try? String(contentsOfFile: "/proc/self/task/\(id)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return total }
        // Fields after the name: state is field 3, utime 14 and stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return total }
        return total + (user + system) / ticks * 1e6
    }
}
