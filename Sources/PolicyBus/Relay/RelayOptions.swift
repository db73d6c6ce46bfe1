import CoreMetrics
import Logging
import Monitoring

/// How a relay is set up: the node (or relay) it forwards to, and the
/// endpoints it serves downstream.
public struct RelayOptions: Sendable {
    /// Shown in logs and the startup line.
    public var name: String
    /// The upstream node's control (ROUTER) endpoint.
    public var upstreamControl: String
    /// The upstream node's data (PUB) endpoint. Nil: learnt from the first
    /// `hello` or `subscribe` reply that passes through. Either way the relay
    /// follows the `data` of later replies, as clients do (PROTOCOL.md §7).
    public var upstreamData: String?
    /// The ROUTER endpoint to bind for downstream clients.
    public var control: String
    /// The XPUB endpoint to bind; by default the control endpoint's host with
    /// any free port, as a node's.
    public var data: String?
    /// The XPUB's SNDHWM per downstream subscriber, and the XSUB's RCVHWM.
    public var sendHighWaterMark: Int32 = 10_000
    /// Largest downstream request frame (ZMQ_MAXMSGSIZE), as a node's.
    public var maxMessageSize = BusLimits().maxMessageSize
    /// Downstream requests libzmq holds per connection before the relay
    /// reads them (ZMQ_RCVHWM on the ROUTER), as a node's: with
    /// `maxMessageSize` it bounds what one client can make the relay buffer.
    public var maxUnreadRequests = BusLimits().maxUnreadRequests
    /// CURVE on the downstream ROUTER and XPUB; nil for plaintext. Who gets
    /// in is the context's `ZAPHandler`'s decision, as at a node.
    public var curve: CurveServerConfiguration?
    /// CURVE toward the upstream node: its public key and the relay's pair.
    public var upstreamCurve: CurveClientConfiguration?
    /// A downstream client's upstream connection is closed after this long
    /// without a request or a reply (clients renew every lease / 3).
    public var idleMilliseconds = 60_000
    /// How often the relay asks the upstream `hello` (its own DEALER): the
    /// answer tells it the upstream is up and where its data endpoint is.
    public var probeMilliseconds = 1000
    /// The upstream is lost (the relay not ready) after this long without an
    /// answer to a probe.
    public var upstreamTimeoutMilliseconds = 3000
    /// What `/livez` and `/readyz` read: the relay's loop turning, and the
    /// upstream answering.
    public var health = HealthState()
    /// Where the relay's metrics go; nil: the process-wide factory, which
    /// `policybus relay --metrics` bootstraps (else the no-op one).
    public var metricsFactory: (any MetricsFactory)?
    public var logger: Logger

    public init(name: String = "relay", upstreamControl: String, upstreamData: String? = nil, control: String, data: String? = nil,
                logger: Logger = Logger(label: "policybus.relay")) {
        self.name = name
        self.upstreamControl = upstreamControl
        self.upstreamData = upstreamData
        self.control = control
        self.data = data
        self.logger = logger
    }
}
