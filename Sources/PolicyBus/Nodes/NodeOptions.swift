import CoreMetrics
import Logging
import Monitoring

/// How a node is set up.
public struct NodeOptions: Sendable {
    /// The node's name: a data source's service name, or an engine's name.
    public var name: String
    /// The ROUTER endpoint to bind, e.g. `tcp://127.0.0.1:*`.
    public var control: String
    /// The PUB endpoint to bind; by default the control endpoint's host with
    /// any free port (ipc/inproc: the control path + `.data`).
    public var data: String?
    /// With no `data`: the directory where the bound data endpoint is kept,
    /// to bind the same port at the next start (an engine's data directory).
    public var dataEndpointDirectory: String?
    /// Heartbeat interval for every published table.
    public var heartbeatMilliseconds: Int = 1000
    /// How long a client's subscriptions live without a request from it.
    public var leaseMilliseconds: Int = 10_000
    /// The PUB socket's SNDHWM: deltas queued per subscriber before libzmq
    /// drops them (the subscriber then resyncs).
    public var sendHighWaterMark: Int32 = 10_000
    public var limits = BusLimits()
    /// How many recent deltas each published table keeps for `subscribe`
    /// with `since` (by count), and how many bytes of them all the tables
    /// keep together.
    public var history = DeltaHistory.Bounds()
    /// The most bytes of rows one snapshot reply (or chunk) carries: a larger
    /// snapshot is captured and read in chunks (`SnapshotCaptures`).
    public var snapshotChunkBytes = 256 << 10
    /// CURVE on both server sockets; nil for plaintext.
    public var curve: CurveServerConfiguration?
    public var logger: Logger
    /// What `/livez`, `/readyz` and `status` report; the node's loop writes it.
    public var health = HealthState()
    /// Where the node's metrics go; nil: the process-wide factory, which is
    /// a no-op unless the executable bootstrapped one (`--metrics`).
    public var metricsFactory: (any MetricsFactory)?

    public init(name: String, control: String, data: String? = nil, logger: Logger = Logger(label: "policybus")) {
        self.name = name
        self.control = control
        self.data = data
        self.logger = logger
    }

    /// The default data endpoint for a control endpoint.
    static func defaultData(for control: String) -> String {
        if control.hasPrefix("tcp://"), let colon = control.lastIndex(of: ":") {
            return String(control[..<colon]) + ":*"
        }
        return control + ".data"
    }
}
