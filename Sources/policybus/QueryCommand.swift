import PolicyEngine
import ArgumentParser
import PolicyBus
import ZeroMQ

/// `policybus query`: evaluate a query at a node.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Query a node: a table name or a pattern such as 'alice:error(x)'."
    )

    @OptionGroup var connection: ConnectOptions

    @Argument(help: "The query.")
    var query: String

    @Flag(name: .long, help: "Print the reply as one JSON object.")
    var json = false

    @OptionGroup var paging: PageOptions

    func run() async throws {
        let command = self
        try await onOwnThread("query") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        let rows: JSON, more: JSON
        if paging.limit == nil {
            let query = query, offset = paging.offset
            (rows, more) = try ClientCall.withClient(connection, json: json) { client throws(BusError) in
                (.array(try client.allRows(query, from: offset)), .int(0))
            }
        } else {
            let reply = try ClientCall.request(connection, .query(query, paging.page), json: json)
            (rows, more) = (reply["rows"] ?? .array([]), reply["more"] ?? .int(0))
        }
        if json {
            Output.line(JSON.object(["rows": rows, "more": more]).text)
            return
        }
        for row in rows.arrayValue ?? [] {
            Output.line("(" + (row.arrayValue ?? []).map(\.text).joined(separator: ", ") + ")")
        }
        if let next = paging.next(more: Int(more.intValue ?? 0), of: "rows") { Output.error(next) }
    }
}

/// One request from a CLI command, with errors turned into exit codes.
enum ClientCall {
    static func request(_ connection: ConnectOptions, _ command: ControlCommand, json: Bool) throws -> JSON {
        try request(connection, command.op, command.fields, json: json)
    }

    /// The reply; an error reply or none is printed in the one shape (as JSON on stdout under `--json`).
    static func request(_ connection: ConnectOptions, _ op: String, _ fields: [String: JSON], json: Bool) throws -> JSON {
        try withClient(connection, json: json) { client throws(BusError) in try client.request(op, fields) }
    }

    /// What `body` does with a client of the node; its error, or a failure
    /// to connect, is printed in the one shape (as JSON on stdout under `--json`).
    static func withClient<T>(_ connection: ConnectOptions, json: Bool, _ body: (ControlClient) throws(BusError) -> T) throws -> T {
        let context = try Context()
        let curve = try connection.curve.configuration(json: json)
        do {
            let client = try ControlClient(
                context: context, endpoint: connection.connect, timeoutMilliseconds: Int(connection.timeout * 1000),
                curve: curve)
            defer { client.close() }
            return try body(client)
        } catch {
            throw ErrorReport.fail(error, json: json)
        }
    }
}
