import PolicyEngine
import ArgumentParser
import Foundation
import Logging
import Monitoring
import PolicyBus
import ZeroMQ

/// Options every client command shares.
struct ConnectOptions: ParsableArguments {
    @Option(name: .long, help: "The node's control endpoint, e.g. tcp://127.0.0.1:5555.")
    var connect: String

    @Option(name: .long, help: "Seconds to wait for a reply.")
    var timeout: Double = 5

    @OptionGroup var curve: CurveClientArguments

    func validate() throws {
        try EndpointSyntax.check(connect, flag: "--connect")
    }
}

/// `--offset N --limit N`: which page of a long list to ask for.
struct PageOptions: ParsableArguments {
    @Option(name: .long, help: "Skip this many items of the list (rows, clients).")
    var offset = 0

    @Option(name: .long, help: "List at most this many items (default: all rows; 100 clients for status).")
    var limit: Int?

    func validate() throws {
        guard offset >= 0, (limit ?? 0) >= 0 else { throw ValidationError("--offset and --limit must not be negative") }
    }

    var page: ControlCommand.Page { ControlCommand.Page(offset: offset, limit: limit) }

    /// How to ask for the items after this page, for a reply with `more` of them.
    func next(more: Int, of what: String) -> String? {
        guard more > 0 else { return nil }
        let shown = limit.map { " --limit \($0)" } ?? ""
        return "\(more) more \(what): --offset N\(shown) (this page started at \(offset))"
    }
}

/// Options every node command shares.
struct NodeArguments: ParsableArguments {
    @Option(name: .long, help: "The node's name (data source service or engine name).")
    var name: String

    @Option(name: .long, help: "The control (ROUTER) endpoint to bind, e.g. tcp://127.0.0.1:5555.")
    var control: String

    @Option(name: .long, help: "The data (PUB) endpoint to bind; default: the control host, any port.")
    var data: String?

    @Option(name: .customLong("heartbeat-ms"), help: "Heartbeat interval in milliseconds.")
    var heartbeatMilliseconds: Int = 1000

    @Option(name: .customLong("lease-ms"), help: "Subscription lease in milliseconds.")
    var leaseMilliseconds: Int = 10_000

    @Option(name: .customLong("sndhwm"), help: "The data socket's send high-water mark per subscriber.")
    var sendHighWaterMark: Int32 = 10_000

    @Option(name: .customLong("history-deltas"), help: "Recent deltas each published table keeps, so that a client that missed some resumes without a snapshot (0: none).")
    var historyDeltas = DeltaHistory.Bounds().deltas

    @Option(name: .customLong("history-bytes"), help: "The most bytes of recent deltas the published tables keep together.")
    var historyBytes = DeltaHistory.Bounds().bytes

    @Option(name: .customLong("snapshot-chunk-bytes"), help: "The most bytes of rows in one snapshot reply; a larger snapshot goes in chunks of this size.")
    var snapshotChunkBytes = 256 << 10

    @OptionGroup var logging: LoggingArguments

    @OptionGroup var metrics: MetricsArguments

    func validate() throws {
        guard heartbeatMilliseconds > 0, leaseMilliseconds > 0 else {
            throw ValidationError("--heartbeat-ms and --lease-ms must be positive")
        }
        try EndpointSyntax.check(control, flag: "--control")
        if let data { try EndpointSyntax.check(data, flag: "--data") }
        guard historyDeltas >= 0, historyBytes >= 0 else { throw ValidationError("--history-deltas and --history-bytes must be 0 or more") }
        guard snapshotChunkBytes >= 1024, snapshotChunkBytes <= 8 << 20 else { throw ValidationError("--snapshot-chunk-bytes must be from 1024 to 8388608") }
    }

    func nodeOptions(label: String) -> NodeOptions {
        var logger = Logger(label: label)
        logger.logLevel = logging.level
        var options = NodeOptions(name: name, control: control, data: data, logger: logger)
        options.heartbeatMilliseconds = heartbeatMilliseconds
        options.leaseMilliseconds = leaseMilliseconds
        options.sendHighWaterMark = sendHighWaterMark
        options.history = DeltaHistory.Bounds(deltas: historyDeltas, bytes: historyBytes)
        options.snapshotChunkBytes = snapshotChunkBytes
        return options
    }
}

extension NodeArguments {
    /// What `serve` and `publish` share once their own inputs are read: the
    /// context, the node's options and limits, the metrics listener, CURVE,
    /// the startup line and the signals. `make` builds the node; `started`
    /// runs just before its loop, which returns when the node stops.
    func runNode(
        label: String, limits: LimitArguments, curve: CurveServerArguments,
        make: (NodeOptions, Context) throws -> Node, started: (Node) -> Void = { _ in }
    ) throws {
        let context = try Context()
        var options = nodeOptions(label: label)
        limits.apply(to: &options)
        let listener = try metrics.start(health: options.health)
        defer { listener?.stop() }
        let zap = try curve.configure(&options, context: context)
        defer { zap?.stop() }
        let node = try make(options, context)
        Output.announce(node, logging, metrics: listener)
        SignalStop.attach(node.control)
        started(node)
        node.run()
    }
}

/// Output helpers for the CLI.
enum Output {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// A piece of stdout's output as it is (`subscribe` writes a large line in pieces).
    static func bytes(_ bytes: [UInt8]) {
        FileHandle.standardOutput.write(Data(bytes))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// A node's reply under `--json`, without the protocol's envelope
    /// (`id`, `ok`): the command's output, not the wire's.
    static func reply(_ reply: JSON) {
        guard case .object(var members) = reply else { return line(reply.text) }
        members["id"] = nil
        members["ok"] = nil
        line(JSON.object(members).text)
    }

    /// `policybus: NAME listening control=... data=... [metrics=HOST:PORT]`,
    /// the one startup line; tests read ports from it.
    static func announce(_ node: Node, _ logging: LoggingArguments, metrics: HTTPListener?) {
        announce(name: node.options.name, control: node.controlEndpoint, data: node.dataEndpoint, logging, metrics: metrics)
    }

    /// The same line for a node or a relay.
    static func announce(name: String, control: String, data: String, _ logging: LoggingArguments, metrics: HTTPListener?) {
        let metrics = metrics.map { " metrics=\($0.address)" } ?? ""
        logging.announce("policybus: \(name) listening control=\(control) data=\(data)\(metrics)")
    }
}

/// Reads a JSON file.
func readJSONFile(_ path: String) throws -> JSON {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ErrorReport.fail(PolicyError(.unreadableFile, "cannot read '\(path)'"))
    }
    do {
        return try JSON.parse(Array(data))
    } catch {
        throw BusError(.badJSON, "\(path): \(error.message)").exit
    }
}

extension BusError {
    /// Exit with the error printed as `policybus: error[code]: message`.
    var exit: ExitCode {
        ErrorReport.fail(self, json: false)
    }
}

/// Runs blocking work (a node's poll loop, a blocking request) on its own
/// thread and awaits it, so that it never occupies the cooperative pool.
func onOwnThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        _ = BlockingThread(name: name) { continuation.resume(with: Result { try body() }) }
    }
}
