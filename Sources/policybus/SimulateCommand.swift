import ArgumentParser
import PolicyBus
import PolicyEngine

/// `policybus simulate`: what a change would do at an engine, without doing it.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Show what a change would do to tables at a running engine, leaving it unchanged.",
        discussion: """
            --changes FILE holds a JSON array of changes, each a rules or facts request without id: \
            {"op": "facts", "action": "insert", "table": "nova:servers", "rows": [["vm9", "h3"]]} or \
            {"op": "rules", "action": "delete", "policy": "alice", "rule": "..."}. They are applied as one \
            transaction to the engine's current state, each --table's net delta is printed, and the change \
            is rolled back: no trigger fires, nothing is published or logged. Facts may also go into the \
            peers' tables the rules read. See docs/LANGUAGE.md ("Tooling").
            """
    )

    @OptionGroup var connection: ConnectOptions

    @Option(help: "A JSON file: an array of rules and facts changes.")
    var changes: String

    @Option(name: .customLong("table"), help: "A table whose delta to print (repeat for more).")
    var tables: [String] = []

    @Flag(name: .long, help: "Print {\"deltas\": [{\"table\", \"added\", \"removed\"}, ...]}.")
    var json = false

    func validate() throws {
        if tables.isEmpty { throw ValidationError("give at least one --table") }
        for name in tables where TableID(name) == nil {
            throw ValidationError("'\(name)' is not a table name (service:table)")
        }
    }

    func run() async throws {
        let command = self
        try await onOwnThread("simulate") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        let file = try readJSONFile(changes)
        guard file.arrayValue != nil else {
            throw ErrorReport.fail(BusError(.badRequest, "\(changes): the changes must be a JSON array of rules and facts changes"), json: json)
        }
        let reply = try ClientCall.request(connection, "simulate", ["changes": file, "tables": .array(tables.map(JSON.string))], json: json)
        if json {
            Output.reply(reply)
            return
        }
        for delta in reply["deltas"]?.arrayValue ?? [] {
            let table = delta["table"]?.stringValue ?? "?"
            let name = TableID(table)?.name ?? table
            let added = delta["added"]?.arrayValue ?? []
            let removed = delta["removed"]?.arrayValue ?? []
            Output.line("\(table): \(added.count) added, \(removed.count) removed")
            for row in removed { Output.line("  -\(name)(\(Self.text(row)))") }
            for row in added { Output.line("  +\(name)(\(Self.text(row)))") }
        }
    }

    /// A row as policy text writes it: `"vm9", 3`.
    static func text(_ row: JSON) -> String {
        let values = (try? RowCodec.row(row)) ?? []
        return values.map(\.description).joined(separator: ", ")
    }
}
