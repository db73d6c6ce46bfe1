import ArgumentParser
import PolicyBus
import PolicyEngine

/// `policybus policy`: create, delete or list an engine's policies while it runs.
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Create, delete or list the policies of a running engine.",
        discussion: """
            create makes a policy, empty or (--file) with a policy file's rules and facts in the same \
            transaction; 'rules insert' adds more. delete removes a policy \
            with its rules and facts in one transaction, refused while another policy's rules read its \
            tables. Both are durable like rules (--data-dir). list prints each policy and its rule count.
            """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case create, delete, list
    }

    @OptionGroup var connection: ConnectOptions

    @Argument(help: "create, delete or list.")
    var action: Action

    @Argument(help: "The policy (create and delete).")
    var name: String?

    @Option(help: "create: a policy file whose rules and facts the new policy starts with (one transaction).")
    var file: String?

    @Flag(name: .long, help: "Print the reply as JSON.")
    var json = false

    func validate() throws {
        if action != .list, name == nil { throw ValidationError("\(action.rawValue) needs the policy name") }
        if action == .list, name != nil { throw ValidationError("list takes no policy name") }
        if action != .create, file != nil { throw ValidationError("only create takes --file") }
    }

    func run() async throws {
        let command = self
        try await onOwnThread("policy") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        var rules: String?
        if let file {
            do throws(PolicyError) { rules = try PolicyFiles.read(file) } catch { throw ErrorReport.fail(error, json: json) }
        }
        let command: ControlCommand =
            switch action {
            case .create: .policyCreate(name: name ?? "", rules: rules)
            case .delete: .policyDelete(name: name ?? "")
            case .list: .policyList
            }
        let reply = try ClientCall.request(connection, command, json: json)
        if json {
            Output.reply(reply)
            return
        }
        for policy in reply["policies"]?.arrayValue ?? [] {
            let rules = policy["rules"]?.intValue ?? 0
            Output.line("\(policy["name"]?.stringValue ?? policy.text)  \(rules) rule\(rules == 1 ? "" : "s")")
        }
    }
}
