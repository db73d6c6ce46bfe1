import PolicyEngine
import ArgumentParser
import PolicyBus

/// `policybus status`: a node's subscriptions, triggers, tables and counters.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a node's subscriptions, triggers, per-table seq and counters.",
        discussion: """
            With --ready, print only whether the node is ready (its log replayed, every table it reads \
            from a peer in step) and exit 0 when it is, 1 when it is not or does not answer: for \
            healthchecks without HTTP (docs/OPERATIONS.md).
            """
    )

    @OptionGroup var connection: ConnectOptions

    @Flag(name: .long, help: "Print the reply as one JSON object.")
    var json = false

    @Flag(name: .long, help: "Exit 0 only when the node is ready; print what is not.")
    var ready = false

    @OptionGroup var paging: PageOptions

    func run() async throws {
        let command = self
        try await onOwnThread("status") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        let reply = try ClientCall.request(connection, .status(paging.page), json: json)
        if ready {
            return try reportReadiness(reply)
        }
        if json {
            Output.reply(reply)
            return
        }
        Output.line("\(reply["kind"]?.stringValue ?? "node") \(reply["name"]?.stringValue ?? "") epoch \(reply["epoch"]?.stringValue ?? "")")
        if reply["busy"] == .bool(true) {
            Output.line("busy: in a long transaction for \(reply["busy_ms"]?.text ?? "?") ms; table rows and engine fields come after it")
        }
        if let triggers = reply["triggers"]?.arrayValue {
            Output.line("triggers: " + triggers.compactMap(\.stringValue).joined(separator: " "))
        }
        if case .object(let tables)? = reply["tables"] {
            for name in tables.keys.sorted() {
                let table = tables[name]!
                Output.line("table \(name) seq=\(table["seq"]?.text ?? "?") rows=\(table["rows"]?.text ?? "?") subscribers=\(table["subscribers"]?.text ?? "?")")
            }
        }
        for subscription in reply["subscriptions"]?.arrayValue ?? [] {
            let tables = subscription["tables"]?.arrayValue?.compactMap(\.stringValue).joined(separator: " ") ?? ""
            // A CURVE node scopes client ids by key: show enough of it to tell two "c1"s apart.
            let key = subscription["key"]?.stringValue.map { " key=\($0.prefix(8))" } ?? ""
            Output.line("client \(subscription["client"]?.stringValue ?? "?")\(key) lease_ms_left=\(subscription["lease_ms_left"]?.text ?? "?") tables: \(tables)")
        }
        for (field, what) in [("subscriptions_more", "clients"), ("tables_more", "published tables"), ("triggers_more", "triggers")] {
            if let next = paging.next(more: Int(reply[field]?.intValue ?? 0), of: what) { Output.line(next) }
        }
        printPeerHealth(reply)
        if let stall = reply["loop_longest_stall_us"]?.intValue {
            Output.line("loop: longest stall \(Double(stall) / 1000) ms")
        }
        if let heap = reply["heap_bytes"]?.intValue, let resident = reply["resident_bytes"]?.intValue {
            Output.line("memory: heap \(heap / 1024) KiB, resident \(resident / 1024) KiB")
        }
        if case .object(let counters)? = reply["counters"] {
            Output.line("counters: " + counters.keys.sorted().map { "\($0)=\(counters[$0]!.text)" }.joined(separator: " "))
        }
    }

    /// `ready`, or `not ready` and one line per failing check; exit 1 when not ready.
    func reportReadiness(_ reply: JSON) throws {
        let failing = Self.notReady(reply)
        if reply["ready"] == .bool(true) {
            Output.line("ready")
            return
        }
        Output.line("not ready")
        for line in failing { Output.line("  " + line) }
        throw ExitCode(1)
    }

    /// One line per table read from a peer, with why it is not in step, and
    /// the node's readiness.
    func printPeerHealth(_ reply: JSON) {
        let notReady = reply["not_ready"]?.arrayValue ?? []
        if case .object(let remote)? = reply["remote"] {
            for name in remote.keys.sorted() {
                let table = remote[name]!
                let synced = table["synced"] == .bool(true)
                let reason = notReady.first { $0["name"]?.stringValue == name }?["reason"]?.stringValue
                let state = synced ? "synced" : "NOT SYNCED (\(reason ?? "resyncing"))"
                Output.line("peer \(name) \(state) seq=\(table["seq"]?.text ?? "?") rows=\(table["rows"]?.text ?? "?")")
            }
        }
        guard case .bool(let ready)? = reply["ready"] else { return }
        Output.line(ready ? "ready" : "not ready: " + Self.notReady(reply).joined(separator: "; "))
    }

    /// `CHECK[ NAME]: REASON` for each failing readiness check.
    static func notReady(_ reply: JSON) -> [String] {
        (reply["not_ready"]?.arrayValue ?? []).map { item in
            let name = item["name"]?.stringValue.map { " " + $0 } ?? ""
            return "\(item["check"]?.stringValue ?? "?")\(name): \(item["reason"]?.stringValue ?? "")"
        }
    }
}
