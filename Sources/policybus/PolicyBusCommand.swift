import ArgumentParser

/// The `policybus` command: one subcommand per file in this folder.
@main
struct PolicyBusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policybus",
        abstract: "A Datalog policy engine on a ZeroMQ message bus.",
        version: "0.1.0",
        subcommands: [
            ServeCommand.self, PublishCommand.self, SubscribeCommand.self, QueryCommand.self, RulesCommand.self, StatusCommand.self,
            EvalCommand.self, KeygenCommand.self,
            CheckCommand.self, FmtCommand.self, TestCommand.self, ExplainCommand.self, PolicyCommand.self, SimulateCommand.self,
        ]
    )
}
