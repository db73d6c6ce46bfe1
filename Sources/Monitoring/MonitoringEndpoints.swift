import Foundation

/// `GET /metrics`, `/livez` and `/readyz`: what ``HTTPListener`` serves for a
/// node. Every answer is built from counters and ``HealthState``, never from
/// the node's tables, so a scrape cannot stall or race the poll loop.
public struct MonitoringEndpoints: Sendable {
    public var health: HealthState
    /// The metrics in Prometheus text format; the executable passes its
    /// registry's `emit`, so this library needs no Prometheus.
    public var metrics: @Sendable () -> [UInt8]

    public init(health: HealthState, metrics: @escaping @Sendable () -> [UInt8]) {
        self.health = health
        self.metrics = metrics
    }

    public static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The response to `request`.
    public func respond(to request: HTTPRequestHead) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            return .text(405, "only GET and HEAD", headers: ["Allow: GET, HEAD"])
        }
        switch request.path {
        case "/metrics":
            return HTTPResponse(status: 200, contentType: Self.prometheusContentType, body: metrics())
        case "/livez":
            return report(health.livenessFailure().map { [$0] } ?? [])
        case "/readyz":
            return report(health.readinessFailures())
        default:
            return .text(404, "no such path; try /metrics, /livez or /readyz")
        }
    }

    /// `{"ok": true}` with 200, or 503 with every failing check.
    func report(_ failures: [HealthState.Failure]) -> HTTPResponse {
        let body = HealthReport(ok: failures.isEmpty, failing: failures.map(HealthReport.Item.init))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(body)).map(Array.init) ?? Array("{}".utf8)
        return HTTPResponse(status: failures.isEmpty ? 200 : 503, contentType: "application/json", body: bytes + [10])
    }
}

/// The JSON body of `/livez` and `/readyz`.
struct HealthReport: Codable {
    struct Item: Codable {
        var check: String
        var name: String?
        var reason: String

        init(_ failure: HealthState.Failure) {
            check = failure.check.kind
            name = failure.check.name
            reason = failure.reason
        }
    }

    var ok: Bool
    var failing: [Item]
}
