import ArgumentParser
import Foundation
import PolicyBus
import PolicyEngine
import ZeroMQ

/// `policybus serve`: run a policy engine on the bus.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a policy engine node.",
        discussion: "Logs 'NAME listening control=... data=...' to stderr at start; stops on SIGTERM or SIGINT."
    )

    @OptionGroup var arguments: NodeArguments
    @OptionGroup var limits: LimitArguments
    @OptionGroup var curve: CurveServerArguments
    @OptionGroup var peerCurve: PeerCurveArguments
    @OptionGroup var data: DataDirectoryArguments

    @Option(name: .long, help: "A policy to load: POLICY=FILE (the file may be empty). Repeatable.")
    var policy: [String] = []

    @Option(name: .long, help: "Which node serves a service: SERVICE=CONTROL_ENDPOINT. Repeatable.")
    var peer: [String] = []

    @Option(name: .customLong("sync-wait-ms"), help: ArgumentHelp(
        "How long a subscribe waits for the first snapshot of the peer tables its tables read; then the reply is not-ready.",
        valueName: "MS"))
    var syncWaitMilliseconds = 10_000

    @Option(name: .customLong("peer-max-derived-rows"), help: "Most rows one transaction of peers' data may derive; over it, the peer table's change is rolled back and the tables derived from it are stale until it fits.")
    var peerMaxDerivedRows = TransactionBudget.peer.derivedRows

    @Option(name: .customLong("peer-max-computed-bytes"), help: "Most bytes of strings one transaction of peers' data may compute with builtins such as concat.")
    var peerMaxComputedBytes = TransactionBudget.peer.computedBytes

    @Option(name: .customLong("peer-max-transaction-ms"), help: "Most milliseconds one transaction of peers' data may take; a peer table over it is retried at growing pauses, also with no new data (a busy machine may be why).")
    var peerMaxTransactionMilliseconds = TransactionBudget.peer.milliseconds

    func validate() throws {
        guard syncWaitMilliseconds >= 0 else { throw ValidationError("--sync-wait-ms must be 0 or more") }
        guard peerMaxDerivedRows > 0, peerMaxComputedBytes > 0, peerMaxTransactionMilliseconds > 0 else {
            throw ValidationError("--peer-max-derived-rows, --peer-max-computed-bytes and --peer-max-transaction-ms must be positive")
        }
        for item in policy { _ = try NameValueOption.parse(item, "--policy") }
        for item in peer {
            let (service, endpoint) = try NameValueOption.parse(item, "--peer")
            try EndpointSyntax.check(endpoint, flag: "--peer \(service)")
        }
    }

    func run() async throws {
        let command = self
        try await onOwnThread("serve") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        arguments.logging.bootstrap()
        // Before anything slow (peers are asked for their columns for up to 5 s each).
        SignalStop.install()
        arguments.logging.announce("policybus: \(arguments.name) starting")
        var setup = EngineSetup()
        var fileOfPolicy: [String: String] = [:]
        for item in policy {
            let (name, path) = try NameValueOption.parse(item, "--policy")
            guard let data = FileManager.default.contents(atPath: path) else {
                // Not a usage mistake: no usage text, exit 1.
                throw ErrorReport.fail(PolicyError(.unreadableFile, "cannot read policy file '\(path)'"))
            }
            setup.policies.append((name, String(decoding: data, as: UTF8.self)))
            fileOfPolicy[name] = path
        }
        for item in peer {
            let (service, endpoint) = try NameValueOption.parse(item, "--peer")
            setup.peers[service] = endpoint
        }
        setup.peerCurve = try peerCurve.configurations()
        setup.syncWaitMilliseconds = syncWaitMilliseconds
        setup.peerBudget = TransactionBudget(
            derivedRows: peerMaxDerivedRows, computedBytes: peerMaxComputedBytes, milliseconds: peerMaxTransactionMilliseconds)
        setup.dataDirectory = data.directory(name: arguments.name)
        setup.compactLogAbove = data.compactAbove
        try arguments.runNode(label: "policybus.serve", limits: limits, curve: curve) { options, context in
            do {
                return try Node.engine(options, setup: setup, context: context)
            } catch let error as BusError {
                // A policy file's errors, every one, at FILE:LINE:COLUMN.
                if let policyError = error.policyError { throw ErrorReport.fail(policyError, files: fileOfPolicy) }
                throw error.exit
            }
        }
    }
}
