import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// Every command reports errors in one shape (issue 10):
    /// `policybus: error[CODE]: message` (or `FILE:LINE:COLUMN: error[CODE]: ...`
    /// for policy text) on stderr, `{"error": {"code", "message"}}` on stdout
    /// under `--json`; runtime errors exit 1, argument errors 64 with usage.
    @Suite(.serialized) struct ErrorShapeTests {
        struct Case: CustomStringConvertible {
            var arguments: [String]
            var status: Int32
            var code: String
            var json = false
            var description: String { arguments.joined(separator: " ") }
        }

        /// What a runtime error's stderr line must look like.
        static var shape: Regex<(Substring, Substring)> { #/^(policybus|\S+:\d+:\d+): error\[[a-z-]+\]: \S/# }

        func check(_ run: OfflineRun, _ expected: Case) throws {
            #expect(run.status == expected.status, "\(expected): \(run)")
            if expected.json {
                let reply = try JSON.parse(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
                #expect(reply["error"]?["code"]?.stringValue == expected.code, "\(expected): \(run.stdout)")
                #expect(reply["error"]?["message"]?.stringValue?.isEmpty == false, "\(expected): \(run.stdout)")
                #expect(!run.stderr.contains("error["), "\(expected): the error once, on stdout: \(run.stderr)")
                return
            }
            let lines = run.stderr.split(separator: "\n").filter { $0.contains("error[") }
            #expect(lines.count == 1, "\(expected): the error once: \(run.stderr)")
            for line in lines {
                #expect(line.contains("error[\(expected.code)]: "), "\(expected): \(line)")
                #expect(line.firstMatch(of: Self.shape) != nil, "\(expected): \(line)")
            }
            #expect(run.stderr.contains("Usage:") == (expected.status == 64), "\(expected): usage only for argument errors: \(run.stderr)")
        }

        @Test func offlineCommandsShareTheShapeAndExitStatuses() async throws {
            let key = NSTemporaryDirectory() + "policybus-key-\(UUID().uuidString)"
            _ = try await runPolicybus(["keygen", "--out", key])
            let broken = try temporaryFile("p(x) :- q(x\n")
            let serve = ["serve", "--name", "s", "--control", "tcp://127.0.0.1:*", "--no-data-dir"]
            let cases: [Case] = [
                Case(arguments: ["help", "NOSUCH"], status: 64, code: "unknown-command"),
                Case(arguments: serve + ["--policy", "x=/no/such/file"], status: 1, code: "unreadable-file"),
                Case(arguments: serve + ["--policy", "x=\(broken)"], status: 1, code: "syntax-error"),
                Case(arguments: ["keygen", "--out", key], status: 1, code: "key-exists"),
                Case(arguments: ["publish", "--name", "d", "--control", "tcp://127.0.0.1:*", "--facts", "/no/such/file"], status: 1, code: "unreadable-file"),
                Case(arguments: ["eval", broken], status: 1, code: "syntax-error"),
                Case(arguments: ["eval", "--json", broken], status: 1, code: "syntax-error", json: true),
                Case(arguments: ["query", "--connect", "tcp://127.0.0.1:1", "--timeout", "0.5", "a:b"], status: 1, code: "timeout"),
                Case(arguments: ["query", "--json", "--connect", "tcp://127.0.0.1:1", "--timeout", "0.5", "a:b"], status: 1, code: "timeout", json: true),
                Case(arguments: ["query", "--connect", "tcp://127.0.0.1:1", "--server-key", "/no/such/key", "a:b"], status: 1, code: "io"),
                Case(arguments: ["status", "--json", "--connect", "tcp://127.0.0.1:1", "--server-key", "/no/such/key"], status: 1, code: "io", json: true),
            ]
            for expected in cases { try check(try await runPolicybus(expected.arguments), expected) }
            // The policy error names the file, not the policy.
            let run = try await runPolicybus(serve + ["--policy", "x=\(broken)"])
            #expect(run.stderr.contains("\(broken):2:1: error[syntax-error]"), "\(run.stderr)")
            let json = try JSON.parse(try await runPolicybus(["eval", "--json", broken]).stdout)
            #expect(json["error"]?["file"] == .string(broken) && json["error"]?["line"] == .int(2), "\(json)")
            // A malformed option is an argument error: usage, exit 64.
            let usage = try await runPolicybus(serve + ["--policy", "nofile"])
            #expect(usage.status == 64 && usage.stderr.contains("Usage:"), "\(usage)")
        }

        @Test func clientCommandsShareTheShapeAndJSONCarriesNoEnvelope() async throws {
            try await withProcesses { processes in
                let (engine, endpoint) = try await processes.engine("e", policies: [("ops", "e(1).")], peers: [])
                let connect = ["--connect", endpoint]
                let cases: [Case] = [
                    Case(arguments: ["query"] + connect + ["ops:nosuch"], status: 1, code: "unknown-table"),
                    Case(arguments: ["query", "--json"] + connect + ["ops:nosuch"], status: 1, code: "unknown-table", json: true),
                    Case(arguments: ["rules"] + connect + ["list", "nope"], status: 1, code: "unknown-policy"),
                    Case(arguments: ["rules", "--json"] + connect + ["list", "nope"], status: 1, code: "unknown-policy", json: true),
                    Case(arguments: ["rules"] + connect + ["insert", "ops", "p(x) :- "], status: 1, code: "syntax-error"),
                    Case(arguments: ["policy", "--json"] + connect + ["delete", "nope"], status: 1, code: "unknown-policy", json: true),
                    Case(arguments: ["explain"] + connect + ["nope:t"], status: 1, code: "unknown-table"),
                    Case(arguments: ["subscribe"] + connect + ["nope:t"], status: 1, code: "unknown-policy"),
                    Case(arguments: ["subscribe", "--json"] + connect + ["nope:t"], status: 1, code: "unknown-policy", json: true),
                ]
                for expected in cases { try check(try await runPolicybus(expected.arguments), expected) }
                for arguments in [["status", "--json"] + connect, ["rules", "--json"] + connect + ["list", "ops"], ["policy", "--json"] + connect + ["list"]] {
                    let run = try await runPolicybus(arguments)
                    #expect(run.status == 0, "\(arguments): \(run)")
                    let reply = try JSON.parse(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
                    #expect(reply["id"] == nil && reply["ok"] == nil, "\(arguments): no protocol envelope: \(run.stdout)")
                }
                // The engine kept serving, with what it had.
                #expect(try await queryRows(endpoint, "ops:e") == [[.int(1)]])
                #expect(engine.isRunning)
            }
        }
    }
}
