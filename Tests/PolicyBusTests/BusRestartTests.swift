import Foundation
import PolicyBus
import PolicyEngine
import Testing

/// Restarts: a new epoch makes subscribers (the engine, and plain clients) resync.
@Suite(.serialized) struct BusRestartTests {
    /// The endpoints of a node, bound again on the same ports after a restart.
    func fixed(_ endpoints: (control: String, data: String)) -> [String] {
        ["--control", endpoints.control, "--data", endpoints.data]
    }

    @Test func anEngineFollowsARestartedDataSource() async throws {
        try await withProcesses { processes in
            let first = try processes.start("data", ["publish", "--name", "data", "--control", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
            let endpoints = try await first.endpoints()
            let (_, engine) = try await processes.engine("engine", policies: [("k", "p(x) :- data:q(x)")], peers: [("data", endpoints.control)])
            let subscriber = try processes.subscriber(engine, ["k:p"], extra: ["--timeout", "300"])
            first.write("+q(1)", "+q(2)")
            _ = try await subscriber.waitFor("p = {1, 2}") { process in
                (try? contents(from: process.stdoutLines, table: "k:p")) == [[.int(1)], [.int(2)]] ? true : nil
            }
            _ = try await offPool { first.stop() }
            // The restarted data source has other facts and a new epoch.
            let facts = try temporaryFile("{\"q\": [[2], [3]]}", suffix: ".json")
            _ = try processes.start("data again", ["publish", "--name", "data", "--heartbeat-ms", "200", "--facts", facts] + fixed(endpoints))
            _ = try await subscriber.waitFor("p = {2, 3} after the restart", timeout: 20) { process in
                (try? contents(from: process.stdoutLines, table: "k:p")) == [[.int(2)], [.int(3)]] ? true : nil
            }
        }
    }

    @Test func aSubscriberFollowsARestartedEngine() async throws {
        try await withProcesses { processes in
            let policy = try temporaryFile("p(1)\np(2)")
            let arguments = ["serve", "--name", "engine", "--no-data-dir", "--heartbeat-ms", "200", "--lease-ms", "3000", "--policy", "k=\(policy)"]
            let first = try processes.start("engine", arguments + ["--control", "tcp://127.0.0.1:*"])
            let endpoints = try await first.endpoints()
            let subscriber = try processes.subscriber(endpoints.control, ["k:p"], extra: ["--timeout", "300"])
            _ = try await subscriber.jsonLine(0)
            _ = try await offPool { first.stop() }
            let changed = try temporaryFile("p(2)\np(5)")
            _ = try processes.start("engine again", ["serve", "--name", "engine", "--no-data-dir", "--heartbeat-ms", "200", "--lease-ms", "3000", "--policy", "k=\(changed)"] + fixed(endpoints))
            _ = try await subscriber.waitFor("a fresh snapshot from the new engine", timeout: 20) { process in
                (try? contents(from: process.stdoutLines, table: "k:p")) == [[.int(2)], [.int(5)]] ? true : nil
            }
            // stderr is read apart from stdout: the line may still be on its way.
            #expect(try await subscriber.stderrContains("resync"))
        }
    }
}
