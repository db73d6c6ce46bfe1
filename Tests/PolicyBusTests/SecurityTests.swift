import Foundation
import PolicyBus
import PolicyEngine
import Synchronization
import Testing
import ZeroMQ

extension ProcessSuites {
    /// CURVE on the bus with real processes: data source and engine are CURVE
    /// servers with allow-lists; the engine is a CURVE client of its peer.
    @Suite(.serialized) struct SecurityTests {
        /// Key files in a fresh directory: NAME.key (0600) and NAME.pub, and an
        /// `authorized-NAME` directory per allow-list.
        struct Keys {
            let directory: String

            init() throws {
                directory = NSTemporaryDirectory() + "policybus-keys-\(UUID().uuidString)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }

            /// Writes a fresh pair; returns the prefix.
            @discardableResult
            func pair(_ name: String) throws -> String {
                let keys = try CurveKeyPair.generate()
                let prefix = directory + "/" + name
                try (keys.secretKey + "\n").write(toFile: prefix + ".key", atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: prefix + ".key")
                try (keys.publicKey + "\n").write(toFile: prefix + ".pub", atomically: true, encoding: .utf8)
                return prefix
            }

            func publicKey(_ name: String) throws -> String {
                try String(contentsOfFile: directory + "/\(name).pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            }

            func secretKey(_ name: String) throws -> String {
                try String(contentsOfFile: directory + "/\(name).key", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            }

            /// An allow-list directory holding the named clients' public keys.
            func allowList(_ list: String, _ clients: [String]) throws -> String {
                let path = directory + "/authorized-" + list
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                for client in clients {
                    try FileManager.default.copyItem(atPath: directory + "/\(client).pub", toPath: path + "/\(client).pub")
                }
                return path
            }

            func path(_ name: String) -> String { directory + "/" + name }

            func remove() { try? FileManager.default.removeItem(atPath: directory) }
        }

        static let policy = "p(x) :- data:q(x), gt(x, 2)."

        /// data (CURVE, admits the engine) -> engine (CURVE, admits alice).
        func withSecureChain(
            _ body: (Processes, Keys, _ source: BusProcess, _ engine: String, _ engineData: String) async throws -> Void
        ) async throws {
            let keys = try Keys()
            defer { keys.remove() }
            for name in ["data", "server", "engine", "alice", "mallory"] { try keys.pair(name) }
            try await withProcesses { processes in
                let (source, sourceEndpoint) = try await processes.dataSource(
                    "data",
                    extra: ["--curve-secret-key", keys.path("data.key"), "--authorized-keys", try keys.allowList("data", ["engine"])])
                source.write("+q(3)")
                let (engineProcess, engine) = try await processes.engine(
                    "secure", policies: [("classification", Self.policy)], peers: [("data", sourceEndpoint)],
                    extra: [
                        "--curve-secret-key", keys.path("server.key"), "--authorized-keys", try keys.allowList("server", ["alice"]),
                        "--peer-server-key", "data=\(keys.path("data.pub"))", "--peer-client-key", keys.path("engine"),
                    ])
                let data = try await engineProcess.endpoints().data
                try await body(processes, keys, source, engine, data)
            }
        }

        func curveArguments(_ keys: Keys, client: String, server: String = "server") -> [String] {
            ["--server-key", keys.path("\(server).pub"), "--client-key", keys.path(client)]
        }

        @Test func anAuthorizedClientGetsSnapshotAndDeltasThroughACurveChain() async throws {
            try await withSecureChain { processes, keys, source, engine, _ in
                let alice = try processes.subscriber(engine, ["classification:p"], extra: curveArguments(keys, client: "alice"))
                let snapshot = try await alice.jsonLine(0)
                // The engine may see data:q before or after alice's snapshot: wait for p(3) either way.
                source.write("+q(4)")
                _ = try await alice.waitFor("p(3) and p(4)") { process in
                    let rows = try? contents(from: process.stdoutLines, table: "classification:p")
                    return rows == [[.int(3)], [.int(4)]] ? true : nil
                }
                #expect(snapshot["kind"]?.stringValue == "snapshot")
                let rows = try await offPool {
                    let context = try ZeroMQ.Context()
                    let client = try ControlClient(
                        context: context, endpoint: engine, timeoutMilliseconds: 5000,
                        curve: try CurveClientConfiguration(
                            serverKey: try keys.publicKey("server"),
                            keys: try CurveKeyPair(publicKey: try keys.publicKey("alice"), secretKey: try keys.secretKey("alice"))))
                    defer { client.close() }
                    return try client.request("query", ["query": .string("classification:p")])
                }
                #expect(rows["rows"] == .array([.array([.int(3)]), .array([.int(4)])]))
            }
        }

        @Test(.timeLimit(.minutes(1))) func theSwiftSubscriberTakesCurveKeys() async throws {
            try await withSecureChain { _, keys, source, engine, _ in
                let table = try #require(TableID("classification:p"))
                func subscriber(_ client: String) throws -> Subscriber {
                    let curve = try CurveClientConfiguration(
                        serverKey: try keys.publicKey("server"),
                        keys: try CurveKeyPair(publicKey: try keys.publicKey(client), secretKey: try keys.secretKey(client)))
                    return try Subscriber(connect: engine, tables: [table], curve: curve)
                }
                let alice = try subscriber("alice")
                let mallory = try subscriber("mallory")
                defer {
                    alice.close()
                    mallory.close()
                }
                source.write("+q(5)")
                let deadline = Date().addingTimeInterval(15)
                while Date() < deadline, alice.rows(of: table) != [[.int(3)], [.int(5)]] {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(alice.rows(of: table) == [[.int(3)], [.int(5)]])
                #expect(mallory.rows(of: table) == nil)
                var failure: BusError?
                for await change in mallory.changes {
                    if case .failed(_, let error) = change { failure = error }
                }
                #expect(failure?.message.contains("refused this client's key") == true, "\(String(describing: failure))")
            }
        }

        @Test func anUnlistedKeyGetsNoSnapshotAndNoDelta() async throws {
            try await withSecureChain { processes, keys, source, engine, engineData in
                let alice = try processes.subscriber(engine, ["classification:p"], extra: curveArguments(keys, client: "alice"))
                _ = try await alice.jsonLine(0)
                let mallory = try processes.subscriber(
                    engine, ["classification:p"], extra: curveArguments(keys, client: "mallory") + ["--connect-timeout", "3"])
                // Mallory also tries the data socket directly, with the right server key.
                // Heartbeats flow every 200 ms and a delta follows: anything that leaked would show.
                let serverKey = try keys.publicKey("server")
                let connected = ConnectedFlag()
                async let leaked = offPool {
                    try countDataMessages(engineData, curve: try CurveClientConfiguration(serverKey: serverKey), forMilliseconds: 1500, connected: connected)
                }
                _ = try await eventually("mallory's SUB connected to the data socket") { connected.value.load(ordering: .acquiring) ? true : nil }
                source.write("+q(7)")
                _ = try await alice.waitFor("alice's delta with p(7)") { process in
                    (try? contents(from: process.stdoutLines, table: "classification:p"))?.contains([.int(7)]) == true ? true : nil
                }
                #expect(try await mallory.exit() == 1)
                // No rows: only the error, which --json puts on stdout.
                let refusal = try #require(mallory.stdoutLines.count == 1 ? try JSON.parse(mallory.stdoutLines[0]) : nil, "\(mallory.stdoutText)")
                #expect(refusal["error"]?["code"] == .string("timeout"))
                #expect(refusal["error"]?["message"]?.stringValue?.contains("the node refused this client's key") == true, "\(refusal)")
                #expect(try await leaked == 0)
            }
        }

        // The clients below give up after 3 s: the message they give then
        // names the handshake failure, which must have happened by then even
        // when the machine is busy.
        @Test func aPlaintextClientGetsNothingFromACurveServer() async throws {
            try await withSecureChain { processes, _, _, engine, engineData in
                let plain = try processes.start("plain query", ["query", "--connect", engine, "--timeout", "3", "classification:p"])
                #expect(try await plain.exit() == 1)
                #expect(plain.stdoutLines.isEmpty)
                #expect(try await plain.stderrContains("error[timeout]"))
                #expect(try await plain.stderrContains("the node requires CURVE"), "\(plain.stderrText)")
                let sub = try processes.subscriber(engine, ["classification:p"], extra: ["--connect-timeout", "3"])
                #expect(try await sub.exit() == 1)
                #expect(sub.stdoutLines.count == 1 && sub.stdoutText.contains(#""code":"timeout""#), "only the error: \(sub.stdoutText)")
                #expect(try await offPool { try countDataMessages(engineData, curve: nil, forMilliseconds: 1000) } == 0)
            }
        }

        @Test func aWrongServerKeyFailsWithAClearErrorNotAHang() async throws {
            try await withSecureChain { processes, keys, _, engine, _ in
                let query = try processes.start(
                    "wrong-key query", ["query", "--connect", engine, "--timeout", "3", "classification:p"] + curveArguments(keys, client: "alice", server: "mallory"))
                #expect(try await query.exit() == 1)
                #expect(try await query.stderrContains("error[timeout]"))
                #expect(try await query.stderrContains("wrong --server-key"), "\(query.stderrText)")
                let sub = try processes.subscriber(
                    engine, ["classification:p"], extra: curveArguments(keys, client: "alice", server: "mallory") + ["--connect-timeout", "3"])
                #expect(try await sub.exit() == 1)
                #expect(sub.stdoutText.contains("wrong --server-key"), "\(sub.stdoutText)")
            }
        }

        @Test func aSecretKeyWithoutAnAllowListIsWarnedAbout() async throws {
            let keys = try Keys()
            defer { keys.remove() }
            try keys.pair("server")
            try await withProcesses { processes in
                let (engine, _) = try await processes.engine("open", policies: [("c", "")], peers: [], extra: ["--curve-secret-key", keys.path("server.key")])
                _ = try await engine.waitFor("the warning") { $0.stderrText.contains("without --authorized-keys") ? true : nil }
            }
        }
    }
}

/// Set once by `countDataMessages` when its SUB's TCP connection is up.
final class ConnectedFlag: Sendable {
    let value = Atomic(false)
}

/// How many data messages a SUB subscribed to everything receives from
/// `endpoint` within `window` ms of its TCP connection (its monitor's
/// connected event, which `connected` reports; a CURVE handshake the node
/// refuses comes after it). Blocks: call it through `offPool`.
func countDataMessages(_ endpoint: String, curve: CurveClientConfiguration?, forMilliseconds window: Int, connected: ConnectedFlag = ConnectedFlag()) throws -> Int {
    let context = try ZeroMQ.Context()
    let socket = try Socket(context, .sub)
    let events = try Socket(context, .pair)
    defer {
        socket.close()
        events.close()
    }
    try socket.set(.linger, 0)
    try events.set(.linger, 0)
    if let curve { try socket.makeCurveClient(serverKey: curve.serverKey, keys: curve.keys) }
    try socket.set(.subscribe, [UInt8]())
    let monitor = "inproc://count-data-\(UUID().uuidString)"
    try socket.monitor(monitor, events: .connected)
    try events.connect(monitor)
    try socket.connect(endpoint)
    var count = 0
    // Until the connection is up, the wait is the test's (60 s at most).
    var deadline = Date().addingTimeInterval(60)
    var poller = Poller()
    poller.add(socket)
    poller.add(events)
    while Date() < deadline {
        _ = try? poller.poll(timeout: 50)
        while (try? socket.tryReceive()) != nil { count += 1 }
        while let frames = try? events.tryReceive(), MonitorEvent(frames: frames)?.event == .connected, !connected.value.load(ordering: .acquiring) {
            connected.value.store(true, ordering: .releasing)
            deadline = Date().addingTimeInterval(Double(window) / 1000)
        }
    }
    return count
}
