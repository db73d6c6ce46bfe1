import Foundation
import PolicyBus
import Testing

extension ProcessSuites {
    /// What an operator sets on the command line: strict endpoints, log
    /// levels and JSON logs, checked on real processes.
    @Suite struct OperationsCommandTests {
        /// A bad endpoint is refused before anything binds or connects: exit
        /// 64, a message naming the flag and what is wrong.
        @Test(arguments: [
            (["serve", "--name", "E", "--control", "tcp://127.0.0.1:99999"], "--control", "port '99999'"),
            (["serve", "--name", "E", "--control", "tcp://127.0.0.1:-5"], "--control", "port '-5'"),
            (["serve", "--name", "E", "--control", "tcp://127.0.0.1:0"], "--control", "port '0'"),
            (["serve", "--name", "E", "--control", "127.0.0.1:7100"], "--control", "needs a scheme"),
            (["serve", "--name", "E", "--control", "tcp://127.0.0.1"], "--control", "has no port"),
            (["serve", "--name", "E", "--control", "tcp://127.0.0.1:*", "--data", "udp://x:1"], "--data", "needs a scheme"),
            (["serve", "--name", "E", "--control", "tcp://127.0.0.1:*", "--peer", "nova=tcp://h:70000"], "--peer nova", "port '70000'"),
            (["publish", "--name", "d", "--control", "tcp://:5"], "--control", "has no host"),
            (["query", "--connect", "tcp://127.0.0.1:65536", "d:t(x)"], "--connect", "port '65536'"),
            (["status", "--connect", "ipc://"], "--connect", "nothing after ipc://"),
            (["subscribe", "--connect", "localhost:7100", "d:t"], "--connect", "needs a scheme"),
        ])
        func badEndpointsAreRefusedNamingTheFlag(arguments: [String], flag: String, problem: String) async throws {
            try await withProcesses { processes in
                let process = try processes.start("bad", arguments)
                #expect(try await process.exit(timeout: 60) == 64)
                let stderr = process.stderrText
                #expect(stderr.contains("\(flag): '"), "\(stderr)")
                #expect(stderr.contains(problem), "\(stderr)")
                #expect(!stderr.contains("listening"))
            }
        }

        /// `--log-format json`: every line on stderr, the startup line
        /// included, is one JSON object with the documented fields.
        @Test func jsonLogsAreOneObjectPerLine() async throws {
            try await withProcesses { processes in
                let source = try processes.start(
                    "d", ["publish", "--name", "d", "--control", "tcp://127.0.0.1:*", "--log-format", "json", "--log-level", "debug", "--exit-on-eof"])
                _ = try await source.waitFor("the listening object", timeout: 60) { $0.stderrText.contains("listening control=") ? true : nil }
                source.closeStdin()  // --exit-on-eof: a clean stop that does not depend on signal timing
                #expect(try await source.exit(timeout: 60) == 0)
                let lines = source.stderrText.split(separator: "\n")
                #expect(lines.count >= 2, "startup and at least the debug and stop lines: \(lines)")
                for line in lines {
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
                    #expect(Set(object.keys) == ["timestamp", "level", "label", "message", "metadata"], "\(line)")
                    let timestamp = try #require(object["timestamp"] as? String)
                    #expect(timestamp.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)
                }
                #expect(lines.filter { $0.contains("listening control=") }.count == 1, "startup is printed once")
                #expect(lines.contains { $0.contains("\"level\":\"debug\"") })
            }
        }

        /// `--log-level warning` hides info; the startup line still shows.
        @Test func theLogLevelFiltersButTheStartupLineStays() async throws {
            try await withProcesses { processes in
                let quiet = try processes.start("d", ["publish", "--name", "d", "--control", "tcp://127.0.0.1:*", "--log-level", "warning", "--exit-on-eof"])
                _ = try await quiet.waitFor("the listening line", timeout: 60) { $0.stderrText.contains("listening control=") ? true : nil }
                quiet.closeStdin()  // --exit-on-eof: a clean stop that does not depend on signal timing
                #expect(try await quiet.exit(timeout: 60) == 0)
                #expect(!quiet.stderrText.contains(" info "), "\(quiet.stderrText)")
                let chatty = try processes.start("d", ["publish", "--name", "d", "--control", "tcp://127.0.0.1:*", "--log-level", "info", "--exit-on-eof"])
                _ = try await chatty.waitFor("the listening line", timeout: 60) { $0.stderrText.contains("listening control=") ? true : nil }
                chatty.closeStdin()  // --exit-on-eof: a clean stop that does not depend on signal timing
                #expect(try await chatty.exit(timeout: 60) == 0)
                // Text lines carry millisecond UTC timestamps.
                let info = try #require(chatty.stderrText.split(separator: "\n").first { $0.contains(" info ") })
                #expect(info.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info "#, options: .regularExpression) != nil, "\(info)")
            }
        }

        @Test func aBadLogLevelIsAUsageError() async throws {
            try await withProcesses { processes in
                let process = try processes.start("bad", ["publish", "--name", "d", "--control", "tcp://127.0.0.1:*", "--log-level", "loud"])
                #expect(try await process.exit(timeout: 60) == 64)
                #expect(process.stderrText.contains("--log-level"))
            }
        }
    }
}
