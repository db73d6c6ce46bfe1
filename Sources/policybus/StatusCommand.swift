import PolicyEngine
import ArgumentParser
import PolicyBus

/// `policybus status`: a node's subscriptions, triggers, tables and counters.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a node's subscriptions, triggers, per-table seq and counters."
    )

    @OptionGroup var connection: ConnectOptions

    @Flag(name: .long, help: "Print the reply as one JSON object.")
    var json = false

    func run() async throws {
        let command = self
        try await onOwnThread("status") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        let reply = try ClientCall.request(connection, "status", [:])
        if json {
            Output.line(reply.text)
            return
        }
        Output.line("\(reply["kind"]?.stringValue ?? "node") \(reply["name"]?.stringValue ?? "") epoch \(reply["epoch"]?.stringValue ?? "")")
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
        if case .object(let counters)? = reply["counters"] {
            Output.line("counters: " + counters.keys.sorted().map { "\($0)=\(counters[$0]!.text)" }.joined(separator: " "))
        }
    }
}
