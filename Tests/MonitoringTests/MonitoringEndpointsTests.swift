import Foundation
@testable import Monitoring
import Testing
import TestSupport

/// The listener over real HTTP on loopback, with URLSession as the client.
@Suite struct MonitoringEndpointsTests {
    /// A health state whose loop never counts as stalled while a test runs,
    /// however busy the machine: stalls are tested with explicit times below.
    static func health() -> HealthState { HealthState(stallLimitNanoseconds: 3_600_000_000_000) }

    /// A listener on a port the system picks, serving `health` and a metrics
    /// text the test controls; always stopped.
    func withListener(_ health: HealthState, metrics: Shared<String>, _ body: (String) async throws -> Void) async throws {
        let endpoints = MonitoringEndpoints(health: health) { Array(metrics.value.utf8) }
        let listener = try HTTPListener(address: ListenAddress(parsing: "127.0.0.1:*"), handler: endpoints.respond(to:))
        defer { listener.stop() }
        #expect(listener.address.port > 0)
        try await body(listener.address.description)
    }

    @Test func metricsAreServedAsPrometheusTextAndReadAfreshEachScrape() async throws {
        let text = Shared("policybus_requests_total{op=\"query\",code=\"ok\"} 1\n")
        try await withListener(Self.health(), metrics: text) { address in
            let first = try await httpGet(address, "/metrics")
            #expect(first.status == 200)
            #expect(first.contentType == MonitoringEndpoints.prometheusContentType)
            #expect(first.body == "policybus_requests_total{op=\"query\",code=\"ok\"} 1\n")
            text.value = "policybus_requests_total{op=\"query\",code=\"ok\"} 2\n"
            #expect(try await httpGet(address, "/metrics?x=1").body.hasSuffix(" 2\n"))
        }
    }

    @Test func livezIs503UntilTheLoopTurns() async throws {
        let health = Self.health()
        try await withListener(health, metrics: Shared("")) { address in
            let before = try await httpGet(address, "/livez")
            #expect(before.status == 503)
            #expect(before.body.contains("\"check\":\"poll-loop\""))
            #expect(before.body.contains("not started"))
            health.loopTurned()
            let after = try await httpGet(address, "/livez")
            #expect(after.status == 200)
            #expect(after.body == "{\"failing\":[],\"ok\":true}\n")
        }
    }

    @Test func readyzNamesEveryFailingCheckUntilEachPasses() async throws {
        let health = Self.health()
        health.loopTurned()
        health.fail(.durableLog, "not replayed")
        health.fail(.peerTable("nova:servers"), "not synced")
        try await withListener(health, metrics: Shared("")) { address in
            let both = try await httpGet(address, "/readyz")
            #expect(both.status == 503)
            #expect(both.contentType == "application/json")
            let report = try JSONDecoder().decode(HealthReport.self, from: Data(both.body.utf8))
            #expect(!report.ok)
            #expect(report.failing.map(\.check) == ["durable-log", "peer-table"])
            #expect(report.failing.map(\.name) == [nil, "nova:servers"])
            #expect(report.failing.map(\.reason) == ["not replayed", "not synced"])
            health.pass(.durableLog)
            #expect(try await httpGet(address, "/readyz").status == 503)
            health.pass(.peerTable("nova:servers"))
            #expect(try await httpGet(address, "/readyz").status == 200)
            // Liveness does not depend on readiness.
            health.fail(.peerTable("nova:hosts"), "publisher silent")
            #expect(try await httpGet(address, "/livez").status == 200)
            #expect(try await httpGet(address, "/readyz").status == 503)
        }
    }

    @Test func otherPathsAndMethodsAreRefused() async throws {
        try await withListener(Self.health(), metrics: Shared("")) { address in
            #expect(try await httpGet(address, "/").status == 404)
            #expect(try await httpGet(address, "/metrics/x").status == 404)
            #expect(try await httpGet(address, "/metrics", method: "POST").status == 405)
            let head = try await httpGet(address, "/metrics", method: "HEAD")
            #expect(head.status == 200 && head.body.isEmpty)
        }
    }

    /// A connection that never sends its request holds the listener for at
    /// most its I/O timeout; the next scrape is answered.
    @Test func aSilentConnectionDoesNotBlockScrapes() async throws {
        let health = Self.health()
        health.loopTurned()
        try await withListener(health, metrics: Shared("m 1\n")) { address in
            let port = Int(address.split(separator: ":").last!)!
            let silent = try openTCP(port: port)
            defer { close(silent) }
            let got = try await httpGet(address, "/metrics")
            #expect(got.status == 200 && got.body == "m 1\n")
        }
    }

    @Test func aStalledLoopIsNotLiveNorReady() {
        let health = HealthState(stallLimitNanoseconds: 1_000_000_000)
        health.loopTurned(now: 5_000_000_000)
        #expect(health.livenessFailure(now: 5_900_000_000) == nil)
        #expect(health.readinessFailures(now: 5_900_000_000).isEmpty)
        let stalled = health.livenessFailure(now: 6_500_000_000)
        #expect(stalled?.check == .pollLoop)
        #expect(stalled?.reason == "no turn for 1500 ms")
        #expect(health.readinessFailures(now: 6_500_000_000).map(\.check) == [.pollLoop])
    }
}

/// A connected TCP socket to 127.0.0.1:`port` that sends nothing.
func openTCP(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
    return fd
}
