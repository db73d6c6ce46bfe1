import ArgumentParser
import Foundation

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
            CheckCommand.self, FmtCommand.self, TestCommand.self, ExplainCommand.self, PolicyCommand.self, SimulateCommand.self, RelayCommand.self,
        ]
    )

    /// ArgumentParser's `help NAME` prints the top-level help for a name it
    /// does not know and exits 0; a script asking for a misspelt command's
    /// help should fail instead.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "help", let name = arguments.dropFirst().first,
            !configuration.subcommands.contains(where: { $0._commandName == name })
        {
            ErrorReport.printError("policybus: error[unknown-command]: no command '\(name)'; 'policybus help' lists them")
            ErrorReport.printError("Usage: " + usageString())
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        await main(nil)
    }
}
