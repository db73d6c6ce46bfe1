import CoreMetrics
import Foundation
import Monitoring
import PolicyBus
import Prometheus
import Synchronization
import ZeroMQ

// MARK: - 4. --metrics on and off

/// The latency figures with the nodes' metrics off (the no-op backend, as
/// without `--metrics`) and on (a Prometheus registry served over HTTP and
/// scraped every 250 ms, far more often than Prometheus would), alternating
/// in each round so that load from other processes hits both alike.
func metricsComparison(rounds: Int, seconds: Double) throws {
    print("BusBench --metrics: latency with the nodes' metrics off and on, \(rounds) rounds, alternating")
    recordingCost()
    for round in 0..<rounds {
        for on in round.isMultiple(of: 2) ? [false, true] : [true, false] {
            try measure(metricsOn: on, seconds: seconds)
        }
    }
}

/// What the publish path adds per delta: the table's series recorded
/// (two counter increments), into the registry and into the no-op backend.
/// Thread CPU time, the best of 5: a busy machine preempts a wall-clock loop.
private func recordingCost() {
    let count = 2_000_000
    for (name, factory) in [("no-op", NOOPMetricsHandler.instance as any MetricsFactory), ("prometheus", PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))] {
        let series = NodeMonitor(factory: factory).series(ofTable: "bench:p")
        var best = Double.infinity
        for _ in 0..<5 {
            let start = threadCPUNanoseconds()
            for _ in 0..<count { series.published(rowCount: 1) }
            best = min(best, Double(threadCPUNanoseconds() - start) / Double(count))
        }
        print("record   \(name): \(format(best)) ns per published delta (thread CPU, best of 5)")
    }
}

/// CPU time used so far by the calling thread.
func threadCPUNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

private func measure(metricsOn: Bool, seconds: Double) throws {
    var listener: HTTPListener?
    var scraper: Scraper?
    var factory: PrometheusMetricsFactory?
    if metricsOn {
        let registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
        let endpoints = MonitoringEndpoints(health: HealthState()) {
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            return bytes
        }
        let started = try HTTPListener(address: ListenAddress(host: "127.0.0.1", port: 0), handler: endpoints.respond)
        listener = started
        scraper = Scraper(port: started.address.port)
    }
    let cluster = try Cluster.start(metrics: factory)
    let probe = LatencyProbe(endpoint: cluster.engine.controlEndpoint)
    usleep(500_000)
    let label = metricsOn ? " metrics=on " : " metrics=off"
    var base: Int64 = 0
    base = latency(cluster: cluster, probe: probe, rate: 1000, seconds: seconds, base: base, label: label)
    _ = latency(cluster: cluster, probe: probe, rate: 10_000, seconds: seconds, base: base, label: label)
    probe.stop()
    cluster.stop()
    if let scraper { print("         scrapes=\(scraper.stop()) of \(scraper.lastSize) bytes") }
    listener?.stop()
}

/// GETs /metrics every 250 ms over a plain TCP connection.
private final class Scraper: Sendable {
    let stopping = Mutex(false)
    let counts = Mutex((scrapes: 0, bytes: 0))
    let thread: Mutex<BlockingThread?> = Mutex(nil)
    var lastSize: Int { counts.withLock { $0.bytes } }

    init(port: Int) {
        let started = BlockingThread(name: "bench-scraper") { [self] in
            while !stopping.withLock({ $0 }) {
                let bytes = Self.get(port: port)
                counts.withLock { $0 = ($0.scrapes + 1, bytes) }
                usleep(250_000)
            }
        }
        thread.withLock { $0 = started }
    }

    /// Stops; returns how many scrapes were made.
    func stop() -> Int {
        stopping.withLock { $0 = true }
        thread.withLock { $0 }?.join()
        return counts.withLock { $0.scrapes }
    }

    /// The response's size in bytes, 0 on failure.
    static func get(port: Int) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return 0 }
        let request = Array("GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n".utf8)
        guard send(fd, request, request.count, 0) == request.count else { return 0 }
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return total }
            total += count
        }
    }
}
