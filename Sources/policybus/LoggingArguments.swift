import ArgumentParser
import Logging
import Monitoring

/// `--log-level` and `--log-format`, on every long-running command. Only the
/// executable sets the log handler; the libraries just log.
struct LoggingArguments: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "The lowest level logged: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .customLong("log-format"), help: "text, or json: one object per line (see docs/OPERATIONS.md).")
    var logFormat: LogFormat = .text

    @Flag(name: .long, help: "The same as --log-level debug.")
    var verbose = false

    /// The level loggers start at.
    var level: Logger.Level { verbose ? min(logLevel, .debug) : logLevel }

    /// Prints a startup line (`policybus: NAME listening ...`) to stderr
    /// whatever `--log-level` is: as it is in text, as a notice object in JSON.
    func announce(_ text: String) {
        switch logFormat {
        case .text: Output.error(text)
        case .json: LogLineHandler(label: "policybus", format: .json, level: .trace).emit(level: .notice, message: text)
        }
    }

    /// Installs the handler; call once, first thing.
    func bootstrap() {
        let format = logFormat
        let level = level
        LoggingSystem.bootstrap { label in LogLineHandler(label: label, format: format, level: level) }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}
