import Foundation
import PolicyBus
import PolicyEngine
import Testing

extension ProcessSuites {
    /// An engine's data port across restarts: kept in its data directory, and
    /// followed by subscribers when it moves anyway.
    @Suite(.serialized) struct DataPortTests {
        static let policy = "p(x) :- q(x)\nq(1)"

        func serve(_ processes: Processes, _ name: String, control: String, extra: [String]) throws -> BusProcess {
            try processes.start(name, [
                "serve", "--name", "engine", "--control", control, "--heartbeat-ms", "200", "--lease-ms", "3000",
                "--policy", "k=\(try temporaryFile(Self.policy))",
            ] + extra)
        }

        /// A data source holding `endpoint`, so that a restarted engine cannot bind it.
        func holdPort(_ processes: Processes, _ endpoint: String) async throws -> BusProcess {
            let holder = try processes.start("port holder", ["publish", "--name", "holder", "--control", "tcp://127.0.0.1:*", "--data", endpoint])
            _ = try await holder.endpoints()
            return holder
        }

        @Test func anEngineWithADataDirectoryBindsItsDataPortAgain() async throws {
            try await withProcesses { processes in
                let directory = NSTemporaryDirectory() + "policybus-dataport-\(UUID().uuidString)"
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let first = try serve(processes, "engine", control: "tcp://127.0.0.1:*", extra: ["--data-dir", directory])
                let endpoints = try await first.endpoints()
                _ = try await offPool { first.stop() }
                let second = try serve(processes, "engine again", control: endpoints.control, extra: ["--data-dir", directory])
                #expect(try await second.endpoints().data == endpoints.data)
                _ = try await offPool { second.stop() }
                // Taken meanwhile: another port, a warning, and that port is kept from now on.
                let holder = try await holdPort(processes, endpoints.data)
                let third = try serve(processes, "engine, port taken", control: endpoints.control, extra: ["--data-dir", directory])
                let moved = try await third.endpoints().data
                #expect(moved != endpoints.data)
                #expect(try await third.stderrContains("cannot bind the data endpoint of the last run"))
                _ = try await offPool { third.stop(); holder.stop() }
                let fourth = try serve(processes, "engine, fourth", control: endpoints.control, extra: ["--data-dir", directory])
                #expect(try await fourth.endpoints().data == moved)
            }
        }

        /// Without a data directory the port moves (here: the old one is
        /// held, so it must); the subscriber follows `data` in the next
        /// reply and hears the next change as a delta on the new port.
        @Test func aSubscriberFollowsAnEngineRestartedOnAnotherDataPort() async throws {
            try await withProcesses { processes in
                let first = try serve(processes, "engine", control: "tcp://127.0.0.1:*", extra: ["--no-data-dir"])
                let endpoints = try await first.endpoints()
                let subscriber = try processes.subscriber(endpoints.control, ["k:p"], extra: ["--timeout", "300"])
                _ = try await subscriber.jsonLine(0)
                _ = try await offPool { first.stop() }
                _ = try await holdPort(processes, endpoints.data)
                let second = try serve(processes, "engine again", control: endpoints.control, extra: ["--no-data-dir"])
                #expect(try await second.endpoints().data != endpoints.data)
                let resynced = try await subscriber.waitFor("a snapshot from the new engine") { process in
                    process.stdoutLines.filter { $0.contains("\"snapshot\"") }.count >= 2 ? process.stdoutLines.count : nil
                }
                _ = try await request(endpoints.control, "facts", ["action": .string("insert"), "table": .string("k:q"), "rows": .array([.array([.int(7)])])])
                let delta = try await subscriber.waitFor("the delta adding 7") { process in
                    process.stdoutLines.dropFirst(resynced).first { $0.contains("[7]") }
                }
                #expect(delta.contains("\"kind\":\"delta\""), "\(delta)")
            }
        }
    }
}
