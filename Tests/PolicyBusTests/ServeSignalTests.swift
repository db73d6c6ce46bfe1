import Foundation
import Testing

/// `serve` handles SIGTERM from the start, also while it is still waiting for
/// a peer's columns (up to 5 s), and then shuts down cleanly.
@Suite struct ServeSignalTests {
    @Test func aSignalWhileWaitingForPeersStillShutsDownCleanly() async throws {
        try await withProcesses { processes in
            let policy = try temporaryFile("p(x) :- data:q(x).")
            // Nothing listens on port 1: the engine keeps asking for the peer's columns.
            let engine = try processes.start(
                "E", ["serve", "--name", "E", "--control", "tcp://127.0.0.1:*", "--no-data-dir", "--policy", "c=\(policy)", "--peer", "data=tcp://127.0.0.1:1"])
            _ = try await engine.waitFor("the starting line") { $0.stderrText.contains("E starting") ? true : nil }
            engine.signal(SIGTERM)
            #expect(try await engine.exit() == 0)
            #expect(engine.stderrText.contains("node stopped"))
        }
    }
}
