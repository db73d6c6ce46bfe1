import ArgumentParser
import PolicyBus
import PolicyEngine

/// `policybus explain`: why rows of an engine's table hold, as derivation trees.
struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain why rows hold at an engine: a derivation tree down to facts.",
        discussion: """
            QUERY is an atom such as 'alice:error("vm4", x, y)'; each matching row (at most 20) gets one \
            derivation, or every derivation (at most 20) with --all. A query no row matches exits 1 \
            with error[no-match]. The output is described in docs/LANGUAGE.md ("explain").
            """
    )

    @OptionGroup var connection: ConnectOptions

    @Argument(help: "The rows to explain: a qualified atom or table name.")
    var query: String

    @Flag(help: "Every derivation of each row (up to 20), not one.")
    var all = false

    @Flag(name: .long, help: "Print {\"explanations\": [...]}, nested derivation objects.")
    var json = false

    func run() async throws {
        let command = self
        try await onOwnThread("explain") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        let reply = try ClientCall.request(connection, "explain", ControlCommand.explain(query: query, all: all).fields, json: json)
        let explanations: [Explanation]
        do throws(BusError) {
            explanations = try (reply["explanations"]?.arrayValue ?? []).map { (node) throws(BusError) in try Explanation(json: node) }
        } catch {
            throw ErrorReport.fail(error, json: json)
        }
        do throws(PolicyError) {
            try ExplainOutput.print(explanations, query: query, json: json)
        } catch {
            throw ErrorReport.fail(error, json: json)
        }
    }
}
