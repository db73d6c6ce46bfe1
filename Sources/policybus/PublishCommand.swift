import PolicyEngine
import ArgumentParser
import Foundation
import PolicyBus
import ZeroMQ

/// `policybus publish`: a data source serving test facts, updated from stdin.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Run a data source that serves facts tables as NAME:table.",
        discussion: """
            Reads updates from stdin, one per line: +servers("vm1", "h1"), -servers("vm1", "h1"),
            replace servers [["vm1","h1"], ...]. Each line is a transaction; begin and commit
            group lines into one. Keeps serving after stdin closes unless --exit-on-eof.
            """
    )

    @OptionGroup var arguments: NodeArguments
    @OptionGroup var limits: LimitArguments
    @OptionGroup var curve: CurveServerArguments

    @Option(name: .long, help: "JSON file of facts: {\"servers\": [[\"vm1\", \"h1\"], ...]}.")
    var facts: String?

    @Option(name: .long, help: "JSON file of column names: {\"servers\": [\"id\", \"host\"]}.")
    var schema: String?

    @Flag(name: .customLong("exit-on-eof"), help: "Stop when stdin closes.")
    var exitOnEOF = false

    func run() async throws {
        let command = self
        try await onOwnThread("publish") { try command.runBlocking() }
    }

    /// The command's work; it blocks, so it runs on its own thread.
    func runBlocking() throws {
        arguments.logging.bootstrap()
        SignalStop.install()
        let tables = try facts.map(Self.readFacts) ?? [:]
        let columns = try schema.map(Self.readSchema) ?? [:]
        let exitOnEOF = exitOnEOF
        try arguments.runNode(label: "policybus.publish", limits: limits, curve: curve) { options, context in
            do {
                return try Node.dataSource(options, tables: tables, schema: columns, context: context)
            } catch let error as BusError {
                throw error.exit
            }
        } started: { node in
            let control = node.control
            _ = BlockingThread(name: "stdin") {
                Self.readStdin(control, exitOnEOF: exitOnEOF)
            }
        }
    }

    /// Turns stdin lines into transactions on the node's thread.
    static func readStdin(_ control: NodeControl, exitOnEOF: Bool) {
        var group: [FactChange]?
        // A bad line inside begin...commit rejects the whole group: all-or-nothing.
        var groupError: String?
        while let line = readLine() {
            let parsed: FactLine
            do {
                parsed = try FactLine(parsing: line)
            } catch {
                Output.error(ErrorReport.line(error) + " in line: \(line)")
                if group != nil && groupError == nil { groupError = "\(error) in line: \(line)" }
                control.submit { node in node.countRejectedFacts(1) }
                continue
            }
            switch parsed {
            case .nothing: continue
            case .begin: group = group ?? []
            case .commit:
                if let groupError {
                    Output.error("policybus: error[bad-transaction]: transaction rejected, nothing applied: \(groupError)")
                } else if let changes = group {
                    submit(changes, control)
                }
                group = nil
                groupError = nil
            case .change(let change):
                if group != nil { group!.append(change) } else { submit([change], control) }
            }
        }
        if exitOnEOF { control.submit { node in node.control.stop() } }
    }

    static func submit(_ changes: [FactChange], _ control: NodeControl) {
        control.submit { node in
            do throws(BusError) {
                try node.applyFacts(changes)
            } catch {
                Output.error(ErrorReport.line(error))
            }
        }
    }

    static func readFacts(_ path: String) throws -> [String: [Row]] {
        guard case .object(let members) = try readJSONFile(path) else {
            throw ErrorReport.fail(PolicyError(.invalidFacts, "\(path): facts must be an object of table name to rows"))
        }
        var tables: [String: [Row]] = [:]
        for (name, rows) in members {
            do {
                tables[name] = try RowCodec.rows(rows)
            } catch {
                throw ErrorReport.fail(PolicyError(.invalidFacts, "\(path): table \(name): \(error.message)"))
            }
        }
        return tables
    }

    static func readSchema(_ path: String) throws -> [String: [String]] {
        guard case .object(let members) = try readJSONFile(path) else {
            throw ErrorReport.fail(PolicyError(.invalidFacts, "\(path): schema must be an object of table name to column names"))
        }
        var schema: [String: [String]] = [:]
        for (name, columns) in members {
            guard let names = columns.arrayValue?.compactMap(\.stringValue), names.count == columns.arrayValue?.count else {
                throw ErrorReport.fail(PolicyError(.invalidFacts, "\(path): columns of \(name) must be an array of strings"))
            }
            schema[name] = names
        }
        return schema
    }
}
