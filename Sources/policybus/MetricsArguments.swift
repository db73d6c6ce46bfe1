import ArgumentParser
import CoreMetrics
import Monitoring
import PolicyBus
import Prometheus

/// `--metrics HOST:PORT` on every node command and `relay`: `/metrics`, `/livez` and
/// `/readyz` over HTTP (docs/OPERATIONS.md). Only the executable picks the
/// metrics backend, as only it sets the log handler.
struct MetricsArguments: ParsableArguments {
    @Option(name: .long, help: "Serve /metrics, /livez and /readyz over HTTP on HOST:PORT (port * for any free one).")
    var metrics: String?

    func validate() throws {
        guard let metrics else { return }
        do {
            _ = try ListenAddress(parsing: metrics)
        } catch {
            throw ValidationError("--metrics: \(error.message)")
        }
    }

    /// Bootstraps the Prometheus registry as the process's metrics backend
    /// and starts serving; nil without `--metrics`. Call before the node is
    /// made, so the node's metrics (and its log's fsync timer) are the
    /// registry's, and `/readyz` answers while an engine waits for its peers.
    /// - Throws: `ExitCode(1)` with `error[bad-address]` or `error[bind-failed]` printed.
    func start(health: HealthState) throws -> HTTPListener? {
        guard let metrics else { return nil }
        do {
            let address = try ListenAddress(parsing: metrics)
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            // Transactions apply in microseconds and fsyncs take about a
            // millisecond: the default buckets start at 5 ms.
            factory.defaultDurationHistogramBuckets = Self.durationBuckets
            MetricsSystem.bootstrap(factory)
            let endpoints = MonitoringEndpoints(health: health) {
                var bytes: [UInt8] = []
                registry.emit(into: &bytes)
                return bytes
            }
            return try HTTPListener(address: address, handler: endpoints.respond)
        } catch {
            throw BusError(BusError.Code(rawValue: error.code.rawValue), "--metrics \(metrics): \(error.message)").exit
        }
    }

    /// 10 µs to 10 s, about three buckets a decade.
    static let durationBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]
}
