import PolicyEngine
import ArgumentParser
import PolicyBus

/// `policybus rules`: list, insert or delete an engine's rules.
struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "List, insert or delete rules of a policy at an engine."
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case list, insert, delete
    }

    @OptionGroup var connection: ConnectOptions

    @Argument(help: "list, insert or delete.")
    var action: Action

    @Argument(help: "The policy.")
    var policy: String

    @Argument(help: "The rule text (insert and delete; several rules may be given in one text).")
    var rule: String?

    @Flag(name: .long, help: "Print the reply as JSON.")
    var json = false

    func validate() throws {
        if action != .list, rule == nil { throw ValidationError("\(action.rawValue) needs the rule text") }
    }

    func run() async throws {
        let command = self
        try await onOwnThread("rules") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        var fields: [String: JSON] = ["action": .string(action.rawValue), "policy": .string(policy)]
        if let rule { fields["rule"] = .string(rule) }
        let reply = try ClientCall.request(connection, "rules", fields, json: json)
        if json {
            Output.reply(reply)
            return
        }
        // ID  POLICY:LINE  TEXT: the id names the rule in logs and reviews, the line its source.
        for entry in reply["entries"]?.arrayValue ?? [] {
            let id = entry["id"]?.stringValue ?? "-"
            let line = entry["line"]?.intValue.map { "\(policy):\($0)" } ?? "-"
            Output.line("\(id)  \(line)  \(entry["rule"]?.stringValue ?? entry.text)")
        }
    }
}
