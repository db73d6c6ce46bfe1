import ArgumentParser
import Logging
import PolicyBus
import ZeroMQ

/// `policybus relay`: a node's control and data endpoints served again
/// elsewhere, for fan-out past one PUB (docs/PROTOCOL.md section 11).
struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Relay a node's control and data endpoints: subscribers use the relay as they use the node.",
        discussion: "Logs 'NAME listening control=... data=...' to stderr at start; stops on SIGTERM or SIGINT."
    )

    @Option(name: .long, help: "The relay's name, in its logs.")
    var name = "relay"

    @Option(name: .customLong("upstream-control"), help: "The upstream node's (or relay's) control endpoint.")
    var upstreamControl: String

    @Option(name: .customLong("upstream-data"), help: "The upstream node's data endpoint; default: the one its replies advertise.")
    var upstreamData: String?

    @Option(name: .long, help: "The control (ROUTER) endpoint to bind for clients, e.g. tcp://0.0.0.0:7300.")
    var control: String

    @Option(name: .long, help: "The data (XPUB) endpoint to bind; default: the control host, any port.")
    var data: String?

    @Option(name: .customLong("sndhwm"), help: "The data socket's send high-water mark per subscriber.")
    var sendHighWaterMark: Int32 = 10_000

    @Option(name: .customLong("max-message-size"), help: "Largest control frame in bytes from a client (ZMQ_MAXMSGSIZE); a bigger one drops the connection. Keep it at the node's.")
    var maxMessageSize = BusLimits().maxMessageSize

    @Option(name: .customLong("max-unread-requests"), help: "Most requests libzmq holds per client connection before the relay reads them (ZMQ_RCVHWM); then TCP holds the client back.")
    var maxUnreadRequests = BusLimits().maxUnreadRequests

    @OptionGroup var curve: CurveServerArguments
    @OptionGroup var upstreamCurve: UpstreamCurveArguments
    @OptionGroup var logging: LoggingArguments
    @OptionGroup var metrics: MetricsArguments

    func validate() throws {
        try EndpointSyntax.check(upstreamControl, flag: "--upstream-control")
        if let upstreamData { try EndpointSyntax.check(upstreamData, flag: "--upstream-data") }
        try EndpointSyntax.check(control, flag: "--control")
        if let data { try EndpointSyntax.check(data, flag: "--data") }
        guard sendHighWaterMark >= 0 else { throw ValidationError("--sndhwm must be 0 or more") }
        guard maxMessageSize > 0 else { throw ValidationError("--max-message-size must be positive") }
        guard maxUnreadRequests > 0 else { throw ValidationError("--max-unread-requests must be positive") }
    }

    func run() async throws {
        let command = self
        try await onOwnThread("relay") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        logging.bootstrap()
        SignalStop.install()
        var logger = Logger(label: "policybus.relay")
        logger.logLevel = logging.level
        var options = RelayOptions(name: name, upstreamControl: upstreamControl, upstreamData: upstreamData, control: control, data: data, logger: logger)
        options.sendHighWaterMark = sendHighWaterMark
        options.maxMessageSize = maxMessageSize
        options.maxUnreadRequests = maxUnreadRequests
        let listener = try metrics.start(health: options.health)
        defer { listener?.stop() }
        let context = try Context()
        let (server, zap) = try curve.start(context: context, logger: logger)
        defer { zap?.stop() }
        options.curve = server
        options.upstreamCurve = try upstreamCurve.configuration()
        let relay: Relay
        do {
            relay = try Relay(options: options, context: context)
        } catch {
            throw error.exit
        }
        Output.announce(name: name, control: relay.controlEndpoint, data: relay.dataEndpoint, logging, metrics: listener)
        SignalStop.attach(stop: relay.remote.stop)
        relay.run()
    }
}
