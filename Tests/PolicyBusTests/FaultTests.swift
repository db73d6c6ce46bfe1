import Foundation
import PolicyBus
import PolicyEngine
import Synchronization
import Testing

extension ProcessSuites {
    /// Crashes and restarts with real processes. Convergence means: every
    /// subscriber's contents equal `query` on its engine, and the engine's table
    /// equals what the data source's rows imply. Every wait is bounded.
    @Suite(.serialized) struct FaultTests {
        static let policy = "p(x) :- data:q(x), gt(x, 2)."
        static let timing = ["--heartbeat-ms", "200", "--lease-ms", "1500"]

        /// A fresh data directory for an engine.
        func dataDirectory() -> String {
            NSTemporaryDirectory() + "policybus-fault-\(UUID().uuidString)"
        }

        /// `serve` on a fixed control endpoint (so that it can be restarted there).
        func serve(
            _ processes: Processes, _ name: String, control: String, policies: [(String, String)], peers: [(String, String)], dataDir: String
        ) async throws -> (BusProcess, String) {
            var arguments = ["serve", "--name", name, "--control", control, "--data-dir", dataDir] + Self.timing
            for (policy, path) in policies { arguments += ["--policy", "\(policy)=\(path)"] }
            for (service, endpoint) in peers { arguments += ["--peer", "\(service)=\(endpoint)"] }
            let process = try processes.start(name, arguments)
            return (process, try await process.endpoints().control)
        }

        func publish(_ processes: Processes, control: String, facts: String? = nil) async throws -> (BusProcess, String) {
            var arguments = ["publish", "--name", "data", "--control", control] + Self.timing
            if let facts { arguments += ["--facts", try temporaryFile(facts, suffix: ".json")] }
            let process = try processes.start("data", arguments)
            return (process, try await process.endpoints().control)
        }

        /// Waits until `subscriber`'s contents of `table` equal `query` at
        /// `engine`, and (when given) `expected`. Fails after `timeout` seconds.
        func converge(
            _ subscriber: BusProcess, _ engine: String, _ table: String, expected: (@Sendable () async throws -> Set<[JSON]>)? = nil,
            timeout: Double = 20
        ) async throws {
            let deadline = Date().addingTimeInterval(timeout)
            var last = ""
            while Date() < deadline {
                let seen = try contents(from: subscriber.stdoutLines, table: table)
                if let queried = try? await queryRows(engine, table), seen == queried {
                    guard let expected else { return }
                    let want = try await expected()
                    if want == queried { return }
                    last = "engine has \(queried.count) rows, the data implies \(want.count)"
                } else {
                    last = "subscriber has \(seen.count) rows; query differs or failed"
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            Issue.record("\(subscriber.name) did not converge on \(table): \(last)\nstderr:\n\(subscriber.stderrText)")
            throw TimeoutError(what: "convergence")
        }

        /// The engine's `p` implied by the data source's `q`.
        func impliedP(_ source: String) async throws -> Set<[JSON]> {
            try await queryRows(source, "data:q").filter { ($0.first?.intValue ?? 0) > 2 }
        }

        /// Writes `+q(i)` / `-q(i - 7)` lines to the data source until cancelled.
        func load(_ source: @escaping @Sendable () -> BusProcess?, start: Int) -> Task<Int, Never> {
            Task {
                var next = start
                while !Task.isCancelled {
                    source()?.write("+q(\(next))")
                    if next - start >= 7 { source()?.write("-q(\(next - 7))") }
                    next += 1
                    try? await Task.sleep(for: .milliseconds(5))
                }
                return next - start
            }
        }

        // MARK: - Tests

        @Test func killedEngineRestartsAndEveryoneConverges() async throws {
            let dataDir = dataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            let policy = try temporaryFile(Self.policy)
            try await withProcesses { processes in
                let (source, sourceEndpoint) = try await publish(processes, control: "tcp://127.0.0.1:*")
                let (engine, endpoint) = try await serve(
                    processes, "E", control: "tcp://127.0.0.1:*", policies: [("c", policy)], peers: [("data", sourceEndpoint)], dataDir: dataDir)
                let subscribers = try (0..<2).map { _ in try processes.subscriber(endpoint, ["c:p"]) }
                for subscriber in subscribers { _ = try await subscriber.jsonLine(0) }
                let epoch = try await request(endpoint, "status")["epoch"]
                let writer = load({ source }, start: 0)
                try await Task.sleep(for: .milliseconds(300))
                engine.signal(SIGKILL)
                // Gone for good before another engine binds its control port.
                _ = try await engine.exit()
                try await Task.sleep(for: .milliseconds(300))
                let (_, restarted) = try await serve(
                    processes, "E", control: endpoint, policies: [("c", policy)], peers: [("data", sourceEndpoint)], dataDir: dataDir)
                try await Task.sleep(for: .milliseconds(500))
                writer.cancel()
                #expect(await writer.value > 0)
                #expect(try await request(restarted, "status")["epoch"] != epoch)
                for subscriber in subscribers {
                    try await converge(subscriber, restarted, "c:p", expected: { try await impliedP(sourceEndpoint) })
                    #expect(try await subscriber.stderrContains("resync ("), "the subscriber noticed the restart")
                    let snapshots = subscriber.stdoutLines.filter { $0.contains("\"kind\":\"snapshot\"") }
                    #expect(snapshots.count >= 2, "a fresh snapshot from the new epoch")
                }
            }
        }

        @Test func restartedDataSourceWithChangedContentsGivesExactlyTheNetDeltas() async throws {
            let dataDir = dataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            try await withProcesses { processes in
                let (source, sourceEndpoint) = try await publish(processes, control: "tcp://127.0.0.1:*", facts: #"{"q": [[1], [3], [4], [5]]}"#)
                let (_, endpoint) = try await serve(
                    processes, "E", control: "tcp://127.0.0.1:*", policies: [("c", try temporaryFile(Self.policy))],
                    peers: [("data", sourceEndpoint)], dataDir: dataDir)
                let subscriber = try processes.subscriber(endpoint, ["c:p"])
                try await converge(subscriber, endpoint, "c:p", expected: { [[.int(3)], [.int(4)], [.int(5)]] })
                let before = subscriber.stdoutLines.count
                source.signal(SIGKILL)
                _ = try await source.exit()
                let (_, restarted) = try await publish(processes, control: sourceEndpoint, facts: #"{"q": [[1], [2], [4], [5], [6], [9]]}"#)
                #expect(restarted == sourceEndpoint)
                try await converge(subscriber, endpoint, "c:p", expected: { [[.int(4)], [.int(5)], [.int(6)], [.int(9)]] })
                let after = try subscriber.stdoutLines[before...].map { try JSON.parse($0) }
                #expect(after.allSatisfy { $0["kind"]?.stringValue == "delta" }, "no resync at the subscriber, only deltas")
                var added: [[JSON]] = []
                var removed: [[JSON]] = []
                for line in after {
                    added += (line["added"]?.arrayValue ?? []).compactMap(\.arrayValue)
                    removed += (line["removed"]?.arrayValue ?? []).compactMap(\.arrayValue)
                }
                #expect(Set(added) == [[.int(6)], [.int(9)]] && added.count == 2)
                #expect(removed == [[.int(3)]])
            }
        }

        @Test func aKilledSubscribersSubscriptionAndTriggerExpireWithItsLease() async throws {
            try await withProcesses { processes in
                let (_, endpoint) = try await serve(
                    processes, "E", control: "tcp://127.0.0.1:*", policies: [("c", try temporaryFile("p(1)."))], peers: [], dataDir: dataDirectory())
                let subscriber = try processes.subscriber(endpoint, ["c:p"])
                _ = try await subscriber.jsonLine(0)
                let status = try await request(endpoint, "status")
                #expect(status["triggers"]?.arrayValue == [.string("c:p")])
                #expect(status["subscriptions"]?.arrayValue?.count == 1)
                subscriber.signal(SIGKILL)
                let lease = 1.5
                let killed = Date()
                // The lease, one tick, and slack for a loaded machine (the whole suite and more on 2 cores).
                let deadline = killed.addingTimeInterval(lease + 5)
                var gone = false
                var last: JSON = .null
                while Date() < deadline, !gone {
                    last = try await request(endpoint, "status")
                    gone = last["triggers"]?.arrayValue == [] && last["subscriptions"]?.arrayValue == []
                    if !gone { try await Task.sleep(for: .milliseconds(50)) }
                }
                print("FaultTests: the killed subscriber's lease ended after \(Date().timeIntervalSince(killed)) s (lease \(lease) s)")
                #expect(gone, "subscription and trigger gone within the lease; last status: \(last)")
            }
        }

        @Test func aStoppedSubscriberUnderLoadConvergesWhenContinued() async throws {
            let dataDir = dataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            try await withProcesses { processes in
                let (source, sourceEndpoint) = try await publish(processes, control: "tcp://127.0.0.1:*")
                let (_, endpoint) = try await serve(
                    processes, "E", control: "tcp://127.0.0.1:*", policies: [("c", try temporaryFile(Self.policy))],
                    peers: [("data", sourceEndpoint)], dataDir: dataDir)
                let subscriber = try processes.subscriber(endpoint, ["c:p"], extra: ["--rcvhwm", "100"])
                _ = try await subscriber.jsonLine(0)
                let writer = load({ source }, start: 100)
                subscriber.signal(SIGSTOP)
                try await Task.sleep(for: .milliseconds(2500))  // longer than the lease: the node forgets it
                subscriber.signal(SIGCONT)
                try await Task.sleep(for: .milliseconds(300))
                writer.cancel()
                _ = await writer.value
                try await converge(subscriber, endpoint, "c:p", expected: { try await impliedP(sourceEndpoint) })
            }
        }

        @Test func aRestartedPeerEngineInAChainLetsDownstreamConverge() async throws {
            let dataA = dataDirectory(), dataB = dataDirectory()
            defer {
                try? FileManager.default.removeItem(atPath: dataA)
                try? FileManager.default.removeItem(atPath: dataB)
            }
            let policyA = try temporaryFile(Self.policy)
            try await withProcesses { processes in
                let (source, sourceEndpoint) = try await publish(processes, control: "tcp://127.0.0.1:*", facts: #"{"q": [[3], [4]]}"#)
                let (engineA, endpointA) = try await serve(
                    processes, "A", control: "tcp://127.0.0.1:*", policies: [("c", policyA)], peers: [("data", sourceEndpoint)], dataDir: dataA)
                let (_, endpointB) = try await serve(
                    processes, "B", control: "tcp://127.0.0.1:*", policies: [("d", try temporaryFile("r(x) :- c:p(x)."))],
                    peers: [("c", endpointA)], dataDir: dataB)
                let subscriber = try processes.subscriber(endpointB, ["d:r"])
                try await converge(subscriber, endpointB, "d:r", expected: { [[.int(3)], [.int(4)]] })
                engineA.signal(SIGKILL)
                _ = try await engineA.exit()  // its control port is free again
                source.write("+q(8)", "-q(3)")
                try await Task.sleep(for: .milliseconds(300))
                _ = try await serve(processes, "A", control: endpointA, policies: [("c", policyA)], peers: [("data", sourceEndpoint)], dataDir: dataA)
                try await converge(subscriber, endpointB, "d:r", expected: { [[.int(4)], [.int(8)]] })
            }
        }
    }
}
