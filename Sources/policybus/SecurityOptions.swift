import ArgumentParser
import Foundation
import Logging
import PolicyBus
import PolicyEngine
import PolicyStore
import ZeroMQ

/// Request limits of `serve` and `publish`; defaults from `BusLimits`.
struct LimitArguments: ParsableArguments {
    @Option(name: .customLong("max-message-size"), help: "Largest control frame in bytes (ZMQ_MAXMSGSIZE); a bigger one drops the connection.")
    var maxMessageSize = BusLimits().maxMessageSize

    @Option(name: .customLong("max-frames"), help: "Most frames per control message, counting the identity (bad-frames).")
    var maxFrames = BusLimits().maxFramesPerMessage

    @Option(name: .customLong("max-rows"), help: "Most rows in one facts request or replace (too-many-rows).")
    var maxRows = BusLimits().maxRowsPerRequest

    @Option(name: .customLong("max-table-name-length"), help: "Longest qualified table name in bytes (bad-table-name).")
    var maxTableNameLength = BusLimits().maxTableNameLength

    @Option(name: .customLong("max-client-id-length"), help: "Longest client id in bytes (too-large).")
    var maxClientIDLength = BusLimits().maxClientIDLength

    @Option(name: .customLong("max-rule-bytes"), help: "Most bytes of policy text in one rules request (too-large).")
    var maxRuleBytes = BusLimits().maxRuleTextLength

    @Option(name: .customLong("max-query-bytes"), help: "Most bytes of query text in one query or explain request (too-large).")
    var maxQueryBytes = BusLimits().maxQueryLength

    @Option(name: .customLong("max-arity"), help: "Most columns in a row of a facts request or in a query pattern (too-large).")
    var maxArity = BusLimits().maxArity

    @Option(name: .customLong("max-reply-bytes"), help: "Largest reply in bytes to any op but subscribe and snapshot-chunk, which --snapshot-chunk-bytes bounds (reply-too-large: the client asks for a page).")
    var maxReplyBytes = BusLimits().maxReplyBytes

    @OptionGroup var budget: BudgetArguments

    @Option(name: .customLong("max-subscriptions"), help: "Most subscriptions per client (too-many-subscriptions).")
    var maxSubscriptions = BusLimits().maxSubscriptionsPerClient

    @Option(name: .customLong("max-clients"), help: "Most clients holding subscriptions at once (too-many-subscriptions).")
    var maxClients = BusLimits().maxClients

    @Option(name: .customLong("max-subscribed-tables"), help: "Most tables with subscribers at once, all clients together (too-many-subscriptions).")
    var maxSubscribedTables = BusLimits().maxSubscribedTables

    @Option(name: .customLong("max-queued-requests"), help: "Most requests one connection may have waiting; they are served round-robin across connections (busy).")
    var maxQueuedRequests = BusLimits().maxQueuedRequests

    @Option(name: .customLong("max-queued-bytes"), help: "Most bytes of requests waiting at the node, all connections together; a connection with none waiting may always send one (busy).")
    var maxQueuedBytes = BusLimits().maxQueuedBytes

    @Option(name: .customLong("max-unread-requests"), help: "Most requests libzmq holds per connection before the node reads them (ZMQ_RCVHWM); then TCP holds the client back.")
    var maxUnreadRequests = BusLimits().maxUnreadRequests

    @Option(name: .customLong("max-request-ms"), help: "Most milliseconds one explain or simulate may take (too-expensive).")
    var maxRequestMilliseconds = BusLimits().maxRequestMilliseconds

    @Option(name: .customLong("loop-budget-ms"), help: "How long the loop serves queued requests before it sends heartbeats and reads new ones.")
    var loopBudgetMilliseconds = BusLimits().loopBudgetMilliseconds

    func validate() throws {
        guard maxMessageSize > 0, maxFrames >= 2, maxRows > 0, maxTableNameLength > 2, maxSubscriptions > 0, maxClients > 0, maxSubscribedTables > 0,
            maxClientIDLength > 0, maxRuleBytes > 0, maxQueryBytes > 0, maxArity > 0, maxReplyBytes > 0,
            maxQueuedRequests > 0, maxQueuedBytes > 0, maxUnreadRequests > 0, loopBudgetMilliseconds > 0, maxRequestMilliseconds > 0
        else {
            throw ValidationError("limits must be positive (--max-frames at least 2, --max-table-name-length at least 3)")
        }
    }

    func apply(to options: inout NodeOptions) {
        options.limits.maxMessageSize = maxMessageSize
        options.limits.maxFramesPerMessage = maxFrames
        options.limits.maxRowsPerRequest = maxRows
        options.limits.maxTableNameLength = maxTableNameLength
        options.limits.maxClientIDLength = maxClientIDLength
        options.limits.maxRuleTextLength = maxRuleBytes
        options.limits.maxQueryLength = maxQueryBytes
        options.limits.maxArity = maxArity
        options.limits.maxReplyBytes = maxReplyBytes
        options.limits.transactionBudget = budget.budget
        options.limits.maxSubscriptionsPerClient = maxSubscriptions
        options.limits.maxClients = maxClients
        options.limits.maxSubscribedTables = maxSubscribedTables
        options.limits.maxQueuedRequests = maxQueuedRequests
        options.limits.maxQueuedBytes = maxQueuedBytes
        options.limits.maxUnreadRequests = maxUnreadRequests
        options.limits.loopBudgetMilliseconds = loopBudgetMilliseconds
        options.limits.maxRequestMilliseconds = maxRequestMilliseconds
    }
}

/// What one transaction may derive: per `rules` or `facts` request at `serve`, and in `eval`.
struct BudgetArguments: ParsableArguments {
    @Option(name: .customLong("max-derived-rows"), help: "Most rows one change may derive, every derivation counted (too-expensive: rolled back).")
    var maxDerivedRows = TransactionBudget().derivedRows

    @Option(name: .customLong("max-computed-bytes"), help: "Most bytes of strings one change may compute with builtins such as concat (too-expensive).")
    var maxComputedBytes = TransactionBudget().computedBytes

    @Option(name: .customLong("max-transaction-ms"), help: "Most milliseconds one change's rules may take (too-expensive).")
    var maxTransactionMilliseconds = TransactionBudget().milliseconds

    func validate() throws {
        guard maxDerivedRows > 0, maxComputedBytes > 0, maxTransactionMilliseconds > 0 else {
            throw ValidationError("--max-derived-rows, --max-computed-bytes and --max-transaction-ms must be positive")
        }
    }

    var budget: TransactionBudget {
        TransactionBudget(derivedRows: maxDerivedRows, computedBytes: maxComputedBytes, milliseconds: maxTransactionMilliseconds)
    }
}

/// CURVE on a node's sockets: `--curve-secret-key FILE [--authorized-keys DIR]`.
struct CurveServerArguments: ParsableArguments {
    @Option(name: .customLong("curve-secret-key"), help: "The node's CURVE secret key file (policybus keygen); encrypts the control and data sockets.")
    var curveSecretKey: String?

    @Option(name: .customLong("authorized-keys"), help: "A directory of client public key files, one per file; only these clients get in.")
    var authorizedKeys: String?

    func validate() throws {
        if authorizedKeys != nil, curveSecretKey == nil {
            throw ValidationError("--authorized-keys needs --curve-secret-key")
        }
    }

    /// Sets CURVE on `options` and starts the ZAP handler: for the
    /// allow-list, or admitting any key. Either way the node learns each
    /// client's key, and scopes its client ids by it.
    /// - Returns: the handler; keep it for the process's life.
    func configure(_ options: inout NodeOptions, context: Context) throws -> ZAPHandler? {
        let (curve, zap) = try start(context: context, logger: options.logger)
        options.curve = curve
        return zap
    }

    /// The server configuration and its ZAP handler (keep it for the
    /// process's life); nil without `--curve-secret-key`.
    func start(context: Context, logger: Logger) throws -> (CurveServerConfiguration?, ZAPHandler?) {
        guard let curveSecretKey else { return (nil, nil) }
        let keys = try KeyFiles.keyPair(secretFile: curveSecretKey)
        let curve = CurveServerConfiguration(keys: keys)
        guard let authorizedKeys else {
            logger.warning(
                "CURVE without --authorized-keys: traffic is encrypted, but ANY client that knows the server's public key is admitted",
                metadata: ["server.key": "\(keys.publicKey)"])
            return (curve, try ZAPHandler(admittingAnyKeyIn: context))
        }
        let listed = try KeyFiles.run { try KeyFile.readAuthorizedKeys(directory: authorizedKeys) }
        if listed.isEmpty {
            logger.warning("--authorized-keys directory is empty: no client will be admitted", metadata: ["dir": "\(authorizedKeys)"])
        }
        logger.info("CURVE with an allow-list", metadata: ["clients": "\(listed.count)", "server.key": "\(keys.publicKey)"])
        return (curve, try ZAPHandler(context: context, allowedClientKeys: Set(listed.map(\.key))))
    }
}

/// CURVE for a client command: `--server-key FILE [--client-key PREFIX]`.
struct CurveClientArguments: ParsableArguments {
    @Option(name: .customLong("server-key"), help: "The node's CURVE public key file (NAME.pub); turns CURVE on.")
    var serverKey: String?

    @Option(name: .customLong("client-key"), help: "This client's key pair: PREFIX.key and PREFIX.pub (policybus keygen --out PREFIX). Default: a fresh pair.")
    var clientKey: String?

    func validate() throws {
        if clientKey != nil, serverKey == nil { throw ValidationError("--client-key needs --server-key") }
    }

    /// The client configuration, or nil for plaintext; a key file's error
    /// is printed in the one shape (on stdout under `--json`).
    func configuration(json: Bool) throws -> CurveClientConfiguration? {
        guard let serverKey else { return nil }
        return try KeyFiles.client(serverKeyFile: serverKey, clientPrefix: clientKey, json: json)
    }
}

/// Reading key files with errors a person can act on.
enum KeyFiles {
    static func run<T>(json: Bool = false, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as BusError {
            // A key file that is missing, malformed or readable by others is not a usage mistake.
            throw ErrorReport.fail(error, json: json)
        }
    }

    /// The pair whose secret key is in `secretFile`; the public key is derived.
    static func keyPair(secretFile: String, json: Bool = false) throws -> CurveKeyPair {
        let secret = try run(json: json) { try KeyFile.readSecretKey(secretFile) }
        let publicKey = try CurveKeyPair.publicKey(forSecretKey: secret)
        return try CurveKeyPair(publicKey: publicKey, secretKey: secret)
    }

    static func client(serverKeyFile: String, clientPrefix: String?, json: Bool = false) throws -> CurveClientConfiguration {
        let server = try run(json: json) { try KeyFile.readPublicKey(serverKeyFile) }
        let keys = try clientPrefix.map { try keyPair(secretFile: $0 + ".key", json: json) }
        return try CurveClientConfiguration(serverKey: server, keys: keys)
    }
}

/// CURVE toward a relay's upstream node: `--upstream-server-key FILE`, `--upstream-client-key PREFIX`.
struct UpstreamCurveArguments: ParsableArguments {
    @Option(name: .customLong("upstream-server-key"), help: "The upstream node's CURVE public key file (NAME.pub); turns CURVE on upstream.")
    var upstreamServerKey: String?

    @Option(name: .customLong("upstream-client-key"), help: "The relay's key pair toward the node: PREFIX.key and PREFIX.pub. Default: a fresh pair.")
    var upstreamClientKey: String?

    func validate() throws {
        if upstreamClientKey != nil, upstreamServerKey == nil { throw ValidationError("--upstream-client-key needs --upstream-server-key") }
    }

    func configuration() throws -> CurveClientConfiguration? {
        guard let upstreamServerKey else { return nil }
        return try KeyFiles.client(serverKeyFile: upstreamServerKey, clientPrefix: upstreamClientKey)
    }
}

/// Per-peer CURVE for `serve`: `--peer-server-key SERVICE=FILE`, `--peer-client-key PREFIX`.
struct PeerCurveArguments: ParsableArguments {
    @Option(name: .customLong("peer-server-key"), help: "A peer's CURVE public key: SERVICE=FILE. Repeatable; peers not listed are plaintext.")
    var peerServerKey: [String] = []

    @Option(name: .customLong("peer-client-key"), help: "This engine's key pair for its peers: PREFIX.key and PREFIX.pub. Default: a fresh pair.")
    var peerClientKey: String?

    func configurations() throws -> [String: CurveClientConfiguration] {
        var result: [String: CurveClientConfiguration] = [:]
        for item in peerServerKey {
            let (service, file) = try NameValueOption.parse(item, "--peer-server-key")
            result[service] = try KeyFiles.client(serverKeyFile: file, clientPrefix: peerClientKey)
        }
        return result
    }
}

/// `serve --data-dir DIR`.
struct DataDirectoryArguments: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Where accepted rule and fact changes are kept (fsync'd). Default: $XDG_STATE_HOME/policybus/NAME, else ~/.local/state/policybus/NAME.")
    var dataDir: String?

    @Flag(name: .customLong("no-data-dir"), help: "Keep control-API changes in memory only.")
    var noDataDir = false

    @Option(name: .customLong("compact-above"), help: "Compact the data log at start when it holds more records than this.")
    var compactAbove = 10_000

    func directory(name: String) -> String? {
        if noDataDir { return nil }
        return dataDir ?? DataDirectory.defaultPath(name: name, environment: ProcessInfo.processInfo.environment)
    }
}

/// The node never answered a client.
struct NoAnswer {
    var endpoint: String
    var seconds: Double
    /// Why, as the client's handshake events tell it (`SubscriptionSession.noAnswerCause`).
    var cause: String

    /// Exit status 1, the error printed in the one shape (on stdout under `--json`).
    func exit(json: Bool) -> ExitCode {
        ErrorReport.fail(BusError(.timeout, "no reply from \(endpoint) within \(seconds) s; \(cause)"), json: json)
    }
}
