import Foundation
import PolicyBus
import PolicyEngine
import Testing
import ZeroMQ

extension ProcessSuites {
    /// A timeout says what the client saw (issue 12): an engine stalled by an
    /// expensive request was reported as "down, or it requires CURVE", which
    /// sent the user the wrong way. CURVE is named only when a handshake failed
    /// (`SecurityTests`).
    @Suite(.serialized) struct NoAnswerTests {
        @Test func nothingListeningIsNoConnectionAndNoCurveGuess() async throws {
            try await withProcesses { processes in
                // Bound, then closed: nothing listens on this port now.
                let (node, endpoint) = try await processes.engine("gone", policies: [("c", "")], peers: [])
                try await offPool { node.stop() }
                for command in [["query", "--connect", endpoint, "--timeout", "1", "c:p"], ["subscribe", "--connect", endpoint, "--connect-timeout", "1", "c:p"]] {
                    let client = try processes.start(command[0], command)
                    #expect(try await client.exit() == 1)
                    #expect(client.stderrText.contains("error[timeout]"), "\(client.stderrText)")
                    #expect(client.stderrText.contains("no connection to it was made"), "\(client.stderrText)")
                    #expect(!client.stderrText.contains("CURVE"), "\(client.stderrText)")
                }
            }
        }

        @Test func aConnectedNodeThatDoesNotAnswerIsReportedAsBusy() async throws {
            try await withProcesses { processes in
                let (node, endpoint) = try await processes.engine("slow", policies: [("c", "")], peers: [])
                let message = try await offPool { () throws -> String in
                    let context = try ZeroMQ.Context()
                    let client = try ControlClient(context: context, endpoint: endpoint, timeoutMilliseconds: 30_000)
                    defer { client.close() }
                    _ = try client.request(.hello)
                    // The node's loop stops, as when one request holds it; the connection stays.
                    node.suspend()
                    defer { node.signal(SIGCONT) }
                    client.timeoutMilliseconds = 1000
                    do {
                        _ = try client.request(.status(.first))
                        return "answered"
                    } catch {
                        return "\(error)"
                    }
                }
                #expect(message.contains("error[timeout]"), "\(message)")
                #expect(message.contains("connected but did not answer in time"), "\(message)")
                #expect(!message.contains("CURVE"), "\(message)")
            }
        }
    }
}
