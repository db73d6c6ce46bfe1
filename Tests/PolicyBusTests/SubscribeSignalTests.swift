import Foundation
import PolicyEngine
import Testing

extension ProcessSuites {
    /// `subscribe` cleans up on SIGINT and SIGTERM: it unsubscribes, so the
    /// engine drops the subscription and its trigger at once, and exits
    /// 128 + the signal. The engine's lease is ten minutes, so only the
    /// unsubscribe can explain a subscription gone when the process exits.
    @Suite struct SubscribeSignalTests {
        @Test(arguments: [SIGINT, SIGTERM])
        func aSignalUnsubscribesBeforeExiting(signal: Int32) async throws {
            try await withProcesses { processes in
                let (_, control) = try await processes.engine(
                    "E", policies: [("c", "p(1)\np(2)")], peers: [], extra: ["--lease-ms", "600000"])
                let subscriber = try processes.subscriber(control, ["c:p"])
                _ = try await subscriber.jsonLine(0)
                let held = try await request(control, "status")
                #expect(held["subscriptions"]?.arrayValue?.count == 1, "\(held)")
                #expect(held["triggers"] == .array([.string("c:p")]))
                #expect((held["subscriptions"]?.arrayValue?.first?["lease_ms_left"]?.intValue ?? 0) > 60_000, "the long lease is in force")

                subscriber.signal(signal)
                #expect(try await subscriber.exit() == 128 + signal)
                // The unsubscribe may reach a busy node after the process is gone;
                // the lease (ten minutes) is far beyond this wait.
                _ = try await eventually("the subscription and trigger to go", timeout: 60) { () async throws -> Bool? in
                    let after = try await request(control, "status")
                    return after["subscriptions"] == .array([]) && after["triggers"] == .array([]) ? true : nil
                }
            }
        }
    }
}
