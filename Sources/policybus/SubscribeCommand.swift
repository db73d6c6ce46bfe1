import ArgumentParser
import Foundation
import PolicyBus
import PolicyEngine
import ZeroMQ

/// `policybus subscribe`: print a table's snapshot and then each change.
struct SubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribe",
        abstract: "Print tables' snapshots, then each change as it arrives.",
        discussion: """
            With --json, one object per line: {"table":T,"kind":"snapshot","seq":N,"rows":[...]} \
            or {"table":T,"kind":"delta","seq":N,"added":[...],"removed":[...]}. A resync prints a \
            fresh snapshot line, or, when the node still had them, the missed deltas.

            Exit status: 0, or 3 when --timeout passes before --count lines. On SIGINT or SIGTERM it \
            unsubscribes (waiting at most 0.5 s for the node) and exits 130 or 143, so the node drops \
            its triggers at once rather than when the lease ends.
            """
    )

    @Option(name: .long, help: "The node's control endpoint.")
    var connect: String

    @OptionGroup var curve: CurveClientArguments

    @OptionGroup var logging: LoggingArguments

    @Option(name: .customLong("connect-timeout"), help: "Fail (exit 1) when the node has not answered within this many seconds.")
    var connectTimeout: Double = 5

    @Argument(help: "Qualified table names, e.g. alice:error.")
    var tables: [String]

    @Flag(name: .long, help: "Print JSON lines.")
    var json = false

    @Option(name: .long, help: "Exit after this many snapshot/delta lines.")
    var count: Int?

    @Option(name: .long, help: "Exit after this many seconds.")
    var timeout: Double?

    @Option(name: .customLong("rcvhwm"), help: .hidden)  // for tests: the SUB socket's receive high-water mark
    var receiveHighWaterMark: Int32?

    @Option(name: .customLong("read-delay-ms"), help: .hidden)  // for tests of slow readers: sleep after each data message
    var readDelayMilliseconds: Int = 0

    func validate() throws {
        try EndpointSyntax.check(connect, flag: "--connect")
    }

    func run() async throws {
        let command = self
        try await onOwnThread("subscribe") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        logging.bootstrap()
        SignalStop.install()
        let ids = try tables.map { name in
            guard let table = TableID(name) else { throw ValidationError("'\(name)' is not a table name (service:table)") }
            return table
        }
        let context = try Context()
        let loop = try PollLoop()
        let connection: SubscriptionConnection
        let curveConfiguration = try curve.configuration(json: json)
        do {
            connection = try SubscriptionConnection(
                loop: loop, context: context, controlEndpoint: connect, receiveHighWaterMark: receiveHighWaterMark,
                curve: curveConfiguration)
        } catch {
            throw error.exit
        }
        if readDelayMilliseconds > 0 {
            connection.maxBatch = 1
            connection.afterDataBatch = { [readDelayMilliseconds] in usleep(UInt32(readDelayMilliseconds * 1000)) }
        }
        var printed = 0
        var live = Set(ids)
        var ending = Ending.finished
        connection.onEvents = { events in
            for event in events where !loop.isStopping {
                switch event {
                case .table(let table, let change):
                    guard show(table, change) else { continue }
                    printed += 1
                    if let count, printed >= count { loop.stop() }
                case .columns:
                    continue
                case .failed(let table, let error):
                    // One table refused; the others go on, so no exit yet.
                    _ = ErrorReport.fail(BusError(error.code, "\(table): \(error.message)"), json: json)
                    live.remove(table)
                    if live.isEmpty {
                        ending = .failed(ExitCode(1))
                        loop.stop()
                    }
                }
            }
        }
        if let timeout { loop.at(monotonicNanoseconds() + UInt64(timeout * 1e9)) { _ in loop.stop() } }
        loop.at(monotonicNanoseconds() + UInt64(connectTimeout * 1e9)) { [unowned connection] _ in
            guard connection.session.repliesReceived == 0 else { return }
            ending = .failed(NoAnswer(endpoint: connect, seconds: connectTimeout, cause: connection.noAnswerCause).exit(json: json))
            loop.stop()
        }
        // A signal is seen within one tick.
        loop.every(milliseconds: 100) { _ in
            guard let signal = SignalStop.received else { return }
            ending = .signalled(signal)
            loop.stop()
        }
        connection.subscribe(ids)
        try loop.run()
        switch ending {
        case .finished:
            connection.unsubscribeAll(timeoutMilliseconds: 1000)
            connection.close()
            if let count, printed < count { throw ExitCode(3) }
        case .signalled(let signal):
            // Unsubscribe, so the node drops its triggers at once.
            connection.unsubscribeAll(timeoutMilliseconds: 500)
            connection.close()
            throw ExitCode(128 + signal)
        case .failed(let error):
            connection.close()
            throw error
        }
    }

    /// Why the loop stopped.
    enum Ending {
        /// --count lines printed, or --timeout passed.
        case finished
        case signalled(Int32)
        /// Every table failed, or the node never answered.
        case failed(any Error)
    }

    /// Prints an event's line (in pieces: a snapshot's can be large), or
    /// says on stderr what a resync or resume means.
    /// - Returns: whether it printed a line.
    func show(_ table: TableID, _ event: TableSubscription.Event) -> Bool {
        switch event {
        case .resync(let reason):
            Output.error("\(table): resync (\(reason.rawValue))")
            return false
        case .resumed(let seq):
            Output.error("\(table): resumed at seq \(seq) (the missed deltas follow)")
            return false
        case .snapshot, .delta:
            return SubscribeLines.write(table, event, json: json) { Output.bytes($0) }
        }
    }
}
