import Foundation
import Monitoring
import PolicyBus
import PolicyEngine
import Testing
import TestSupport
import ZeroMQ

extension ProcessSuites {
    /// `policybus relay` with real processes: node → relay → relay →
    /// subscribers, which must see what direct subscribers see (issue 13).
    @Suite(.serialized) struct RelayTests {
        /// `relay` in front of `upstream`, on a loopback wildcard port.
        func relay(_ processes: Processes, _ name: String, upstream: String, extra: [String] = []) async throws -> (BusProcess, String) {
            let process = try processes.start(name, ["relay", "--name", name, "--upstream-control", upstream, "--control", "tcp://127.0.0.1:*"] + extra)
            return (process, try await process.endpoints().control)
        }

        /// Every delta line of `table` in `subscribe --json` output follows
        /// the line before it by one seq: no gap, nothing twice, nothing out
        /// of order. Returns the first offending pair.
        func seqBreak(in lines: [String], table: String) throws -> (Int64, Int64)? {
            var last: Int64?
            for line in lines {
                let json = try JSON.parse(line)
                guard json["table"]?.stringValue == table, let seq = json["seq"]?.intValue else { continue }
                if json["kind"]?.stringValue == "delta", let previous = last, seq != previous + 1 { return (previous, seq) }
                last = seq
            }
            return nil
        }

        /// Random changes at a data source under an engine; a `subscribe`
        /// and a Swift `Subscriber` two relays away end equal to the engine's
        /// `query` (asked directly, and through the relays), their deltas in
        /// seq order.
        @Test func subscribersTwoRelaysAwayConvergeToQuery() async throws {
            let seed = UInt64.random(in: 0...UInt64.max)
            print("RelayTests.subscribersTwoRelaysAwayConvergeToQuery seed \(seed)")
            var random = SeededRandom(seed: seed)
            try await withProcesses { processes in
                let (data, dataControl) = try await processes.dataSource("data")
                let policy = "big(x, y) :- data:q(x, y), y > 5"
                let (_, engine) = try await processes.engine("engine", policies: [("k", policy)], peers: [("data", dataControl)])
                let (_, first) = try await relay(processes, "relay-1", upstream: engine)
                let (secondRelay, second) = try await relay(processes, "relay-2", upstream: first)
                // Clients are sent to the nearest relay's XPUB, not the node's PUB.
                let advertised = try await secondRelay.endpoints().data
                #expect(try await request(second, "hello")["data"] == .string(advertised))
                #expect(try await request(second, "subscribe", ["client": .string("probe"), "tables": .array([.string("k:big")])])["data"] == .string(advertised))
                let cli = try processes.subscriber(second, ["k:big"], extra: ["--timeout", "300"])
                let table = try #require(TableID("k:big"))
                let swift = try Subscriber(connect: second, tables: [table])
                defer { swift.close() }
                let seqs = Task { () -> [(kind: String, seq: UInt64)] in
                    var seen: [(kind: String, seq: UInt64)] = []
                    for await change in swift.changes {
                        switch change {
                        case .snapshot(_, _, let seq): seen.append(("snapshot", seq))
                        case .delta(_, _, _, let seq): seen.append(("delta", seq))
                        case .resync: seen.append(("resync", 0))
                        case .failed: seen.append(("failed", 0))
                        }
                    }
                    return seen
                }
                _ = try await cli.jsonLine(0)
                var present: Set<[Int]> = []
                for round in 0..<4 {
                    data.write(random.factChanges(100, present: &present).joined(separator: "\n"))
                    let expected = Set(present.filter { $0[1] > 5 }.map { $0.map { JSON.int(Int64($0)) } })
                    _ = try await eventually("k:big at the engine after round \(round) (seed \(seed))") {
                        try await queryRows(engine, "k:big") == expected ? true : nil
                    }
                    #expect(try await queryRows(second, "k:big") == expected, "query through two relays (seed \(seed))")
                    _ = try await cli.waitFor("the CLI subscriber to converge after round \(round) (seed \(seed))") { process in
                        (try? contents(from: process.stdoutLines, table: "k:big")) == expected ? true : nil
                    }
                    let rows = Set(present.filter { $0[1] > 5 }.map { $0.map { Value.int(Int64($0)) } })
                    _ = try await eventually("the Swift subscriber to converge after round \(round) (seed \(seed))") {
                        swift.rows(of: table) == rows ? true : nil
                    }
                }
                #expect(try seqBreak(in: cli.stdoutLines, table: "k:big") == nil, "seq order at the CLI subscriber (seed \(seed))")
                // The node sees each downstream client as its own: two subscribers and the probe, three leases.
                let status = try await request(engine, "status")
                #expect(status["subscriptions"]?.arrayValue?.count == 3, "\(status)")
                swift.close()
                let seen = await seqs.value
                var last: UInt64?
                for (kind, seq) in seen {
                    if kind == "delta", let previous = last { #expect(seq == previous + 1, "Swift subscriber: delta \(seq) after \(previous) (seed \(seed))") }
                    last = kind == "resync" ? nil : seq
                }
                #expect(!seen.contains { $0.kind == "failed" })
            }
        }

        /// The engine restarts on the same control endpoint but a new data
        /// port (no data directory), with other rows: the relays follow the
        /// `data` of the replies passing through, the new epoch passes down,
        /// and the subscriber resyncs to the new contents.
        @Test func aChainFollowsARestartedEngineToItsNewDataPort() async throws {
            try await withProcesses { processes in
                let arguments = ["serve", "--name", "engine", "--no-data-dir", "--heartbeat-ms", "200", "--lease-ms", "3000"]
                let before = try temporaryFile("p(1)\np(2)")
                let engine = try processes.start("engine", arguments + ["--policy", "k=\(before)", "--control", "tcp://127.0.0.1:*"])
                let endpoints = try await engine.endpoints()
                let (firstRelay, first) = try await relay(processes, "relay-1", upstream: endpoints.control, extra: ["--upstream-data", endpoints.data])
                let (_, second) = try await relay(processes, "relay-2", upstream: first)
                let subscriber = try processes.subscriber(second, ["k:p"], extra: ["--timeout", "300"])
                _ = try await subscriber.waitFor("p = {1, 2}") { process in
                    (try? contents(from: process.stdoutLines, table: "k:p")) == [[.int(1)], [.int(2)]] ? true : nil
                }
                _ = try await offPool { engine.stop() }
                let after = try temporaryFile("p(2)\np(5)")
                let restarted = try processes.start("engine again", arguments + ["--policy", "k=\(after)", "--control", endpoints.control])
                let moved = try await restarted.endpoints().data
                _ = try await subscriber.waitFor("p = {2, 5} from the restarted engine") { process in
                    (try? contents(from: process.stdoutLines, table: "k:p")) == [[.int(2)], [.int(5)]] ? true : nil
                }
                #expect(try await subscriber.stderrContains("resync"))
                #expect(try seqBreak(in: subscriber.stdoutLines, table: "k:p") == nil)
                if moved != endpoints.data {
                    #expect(firstRelay.stderrText.contains("upstream data endpoint endpoint=\(moved)"), "\(firstRelay.stderrText)")
                }
                // Deltas still flow after the move.
                let insert = try processes.start("rules", ["rules", "--connect", first, "insert", "k", "p(7)"])
                #expect(try await insert.exit() == 0, "\(insert.stderrText)")
                _ = try await subscriber.waitFor("p(7) through both relays") { process in
                    (try? contents(from: process.stdoutLines, table: "k:p"))?.contains([.int(7)]) == true ? true : nil
                }
            }
        }

        /// CURVE on both sides of both relays: the engine admits relay-1,
        /// relay-1 admits relay-2, relay-2 admits alice. Alice gets the
        /// snapshot and a delta; mallory, unlisted at relay-2, gets nothing.
        @Test func aCurveChainAdmitsOnlyItsAllowList() async throws {
            let keys = try SecurityTests.Keys()
            defer { keys.remove() }
            for name in ["server", "relay-1", "relay-2", "alice", "mallory"] { try keys.pair(name) }
            try await withProcesses { processes in
                let (_, engine) = try await processes.engine(
                    "secure", policies: [("k", "p(1)")], peers: [],
                    extra: ["--curve-secret-key", keys.path("server.key"), "--authorized-keys", try keys.allowList("server", ["relay-1"])])
                let (_, first) = try await relay(processes, "relay-1", upstream: engine, extra: [
                    "--curve-secret-key", keys.path("relay-1.key"), "--authorized-keys", try keys.allowList("relay-1", ["relay-2"]),
                    "--upstream-server-key", keys.path("server.pub"), "--upstream-client-key", keys.path("relay-1"),
                ])
                let (_, second) = try await relay(processes, "relay-2", upstream: first, extra: [
                    "--curve-secret-key", keys.path("relay-2.key"), "--authorized-keys", try keys.allowList("relay-2", ["alice"]),
                    "--upstream-server-key", keys.path("relay-1.pub"), "--upstream-client-key", keys.path("relay-2"),
                ])
                func curve(_ client: String) -> [String] { ["--server-key", keys.path("relay-2.pub"), "--client-key", keys.path(client)] }
                let alice = try processes.subscriber(second, ["k:p"], extra: curve("alice"))
                _ = try await alice.waitFor("alice's snapshot") { process in
                    (try? contents(from: process.stdoutLines, table: "k:p")) == [[.int(1)]] ? true : nil
                }
                let insert = try processes.start("rules", ["rules", "--connect", second, "insert", "k", "p(2)"] + curve("alice"))
                #expect(try await insert.exit() == 0, "\(insert.stderrText)")
                _ = try await alice.waitFor("alice's delta p(2)") { process in
                    (try? contents(from: process.stdoutLines, table: "k:p")) == [[.int(1)], [.int(2)]] ? true : nil
                }
                let mallory = try processes.subscriber(second, ["k:p"], extra: curve("mallory") + ["--connect-timeout", "3"])
                #expect(try await mallory.exit() == 1)
                #expect(mallory.stdoutLines.count == 1 && mallory.stdoutText.contains(#""code":"timeout""#), "only the error: \(mallory.stdoutText)")
                let plain = try processes.start("plain query", ["query", "--connect", second, "--timeout", "3", "k:p"])
                #expect(try await plain.exit() == 1)
                #expect(plain.stdoutLines.isEmpty)
            }
        }

        /// Behind a CURVE relay the node knows every client by the relay's
        /// key; the relay scopes each `client` id by its client's key, so
        /// alice and bob, both sending "c1", stay two clients at the node.
        @Test func aCurveRelayKeepsTwoKeysWithOneClientIdApart() async throws {
            typealias Security = ClientKeySecurityTests
            let keys = try SecurityTests.Keys()
            defer { keys.remove() }
            // "server" is the relay: the key the clients are given.
            for name in ["engine", "server", "alice", "bob"] { try keys.pair(name) }
            try await withProcesses { processes in
                let (source, sourceControl) = try await processes.dataSource("data")
                source.write("+q(3)")
                let (_, engine) = try await processes.engine(
                    "engine", policies: [("classification", Security.policy)], peers: [("data", sourceControl)],
                    extra: ["--curve-secret-key", keys.path("engine.key"), "--authorized-keys", try keys.allowList("engine", ["server"])])
                let (_, control) = try await relay(processes, "relay", upstream: engine, extra: [
                    "--curve-secret-key", keys.path("server.key"), "--authorized-keys", try keys.allowList("server", ["alice", "bob"]),
                    "--upstream-server-key", keys.path("engine.pub"), "--upstream-client-key", keys.path("server"),
                ])
                let replies = try await Security.requests(control, keys, [
                    ("alice", "c1", "subscribe", Security.tables),
                    ("bob", "c1", "subscribe", Security.tables),
                    ("alice", "c1", "status", [:]),
                    ("bob", "c1", "unsubscribe", Security.tables),
                    ("alice", "c1", "renew", [:]),
                    ("bob", "c1", "renew", [:]),
                ])
                let clients = (replies[2]["subscriptions"]?.arrayValue ?? []).compactMap { $0["client"]?.stringValue }
                #expect(Set(clients) == [try keys.publicKey("alice") + "|c1", try keys.publicKey("bob") + "|c1"], "\(replies[2])")
                #expect(replies[3]["tables"] == .array([]), "\(replies[3])")
                #expect(replies[4]["tables"] == .array([.string(Security.table)]), "bob's unsubscribe left alice's: \(replies[4])")
                #expect(replies[5]["tables"] == .array([]), "\(replies[5])")
            }
        }

        /// `relay --metrics`: scraped over real HTTP. Not ready until its
        /// upstream answers, ready while it does, not ready when it is gone,
        /// ready again with one reconnect counted when it is back; known
        /// requests and deltas counted each way.
        @Test func aRelayIsScrapedAndReadyWhileItsUpstreamAnswers() async throws {
            try await withProcesses { processes in
                // A free pair of endpoints for the data source, which starts after the relay.
                let first = try processes.start("d", ["publish", "--name", "d", "--control", "tcp://127.0.0.1:*"])
                let endpoints = try await first.endpoints()
                _ = try await offPool { first.stop() }
                let (relay, control) = try await relay(processes, "relay", upstream: endpoints.control, extra: ["--metrics", "127.0.0.1:*"])
                let metrics = try await relay.metricsAddress()
                func readyz(_ status: Int, _ what: String) async throws -> String {
                    try await eventually("/readyz \(status): \(what)") {
                        let got = try await httpGet(metrics, "/readyz")
                        return got.status == status ? got.body : nil
                    }
                }
                func scrape() async throws -> PrometheusSamples {
                    let got = try await httpGet(metrics, "/metrics")
                    #expect(got.status == 200 && got.contentType?.hasPrefix("text/plain") == true)
                    return PrometheusSamples(parsing: got.body)
                }
                _ = try await eventually("/livez 200") { try await httpGet(metrics, "/livez").status == 200 ? true : nil }
                let waiting = try await readyz(503, "no upstream yet")
                let failing = try JSON.parse(waiting)["failing"]?.arrayValue?.first
                #expect(failing?["check"] == .string("upstream") && failing?["name"] == .string(endpoints.control), "\(waiting)")

                let arguments = ["publish", "--name", "d", "--heartbeat-ms", "200", "--control", endpoints.control, "--data", endpoints.data]
                let source = try processes.start("d again", arguments)
                _ = try await readyz(200, "the upstream answers")
                let start = try await scrape()
                #expect(start["policybus_relay_upstream_up"] == 1)
                #expect(start["policybus_relay_upstream_reconnects_total"] ?? 0 == 0)

                // Three requests, each its own connection, nothing else downstream.
                for _ in 0..<3 { _ = try await request(control, "hello") }
                let queried = try await scrape()
                func moved(_ name: String, _ labels: [String: String], from before: PrometheusSamples, to after: PrometheusSamples) -> Double {
                    (after[name, labels] ?? 0) - (before[name, labels] ?? 0)
                }
                #expect(moved("policybus_relay_messages_total", ["direction": "up", "kind": "request"], from: start, to: queried) == 3)
                #expect(moved("policybus_relay_messages_total", ["direction": "down", "kind": "reply"], from: start, to: queried) == 3)
                #expect(moved("policybus_relay_bytes_total", ["direction": "down", "kind": "reply"], from: start, to: queried) > 3 * 20)
                #expect(queried["policybus_relay_downstream_connections"] == 3)
                #expect(moved("policybus_relay_downstream_connections_opened_total", [:], from: start, to: queried) == 3)

                // A subscriber: one topic, and at least one data message per delta.
                let subscriber = try processes.subscriber(control, ["d:q"], extra: ["--timeout", "300"])
                _ = try await subscriber.jsonLine(0)
                source.write((1...5).map { "+q(\($0))" }.joined(separator: "\n"))
                _ = try await subscriber.waitFor("five rows through the relay") { process in
                    (try? contents(from: process.stdoutLines, table: "d:q"))?.count == 5 ? true : nil
                }
                let subscribed = try await scrape()
                #expect(subscribed["policybus_relay_topics"] == 1)
                #expect(moved("policybus_relay_messages_total", ["direction": "down", "kind": "data"], from: queried, to: subscribed) >= 5)
                #expect(moved("policybus_relay_messages_total", ["direction": "up", "kind": "subscription"], from: queried, to: subscribed) >= 1)

                // The upstream goes, and comes back.
                _ = try await offPool { source.stop() }
                let lost = try await readyz(503, "the upstream is gone")
                #expect(lost.contains("no answer for"), "\(lost)")
                #expect(try await scrape()["policybus_relay_upstream_up"] == 0)
                _ = try processes.start("d once more", arguments)
                _ = try await readyz(200, "the upstream is back")
                #expect(try await scrape()["policybus_relay_upstream_reconnects_total"] == 1)
                #expect(relay.stderrText.contains("upstream lost") && relay.stderrText.contains("upstream regained"), "\(relay.stderrText)")

                // The stop log reads the counters the last scrape showed,
                // once the subscriber's unsubscribe, the last request, has its reply.
                _ = try await offPool { subscriber.stop() }
                let last = try await eventually("every request answered") { () async throws -> PrometheusSamples? in
                    let samples = try await scrape()
                    let requests = samples["policybus_relay_messages_total", ["direction": "up", "kind": "request"]]
                    return requests == samples["policybus_relay_messages_total", ["direction": "down", "kind": "reply"]] ? samples : nil
                }
                relay.signal(SIGTERM)
                #expect(try await relay.exit() == 0)
                let line = relay.stderrText.split(separator: "\n").first { $0.contains("relay stopped") } ?? ""
                let stopped = Dictionary(line.split(separator: " ").compactMap { word -> (String, Double)? in
                    let parts = word.split(separator: "=", maxSplits: 1)
                    return parts.count == 2 ? (String(parts[0]), Double(parts[1]) ?? .nan) : nil
                }) { $1 }
                func total(_ labels: [String: String]) -> Double? { last["policybus_relay_messages_total", labels] }
                #expect(stopped["requests"] != nil && stopped["requests"] == total(["direction": "up", "kind": "request"]), "\(line)")
                #expect(stopped["replies"] != nil && stopped["replies"] == total(["direction": "down", "kind": "reply"]), "\(line)")
                #expect(stopped["clients.opened"] == last["policybus_relay_downstream_connections_opened_total"], "\(line)")
                // Heartbeats still pass between the scrape and the stop.
                #expect((stopped["data.frames"] ?? 0) >= (total(["direction": "down", "kind": "data"]) ?? .infinity), "\(line)")
            }
        }

        /// `--max-message-size`: a request frame over it drops the client's
        /// connection at the relay (no reply), as at a node; under it, it passes.
        @Test func aRequestOverTheRelaysFrameLimitGetsNoReply() async throws {
            try await withProcesses { processes in
                let (_, source) = try await processes.dataSource("d")
                let (_, control) = try await relay(processes, "relay", upstream: source, extra: ["--max-message-size", "4096"])
                let padding: [String: JSON] = ["padding": .string(String(repeating: "x", count: 8000))]
                #expect(try await request(source, "hello", padding)["name"] == .string("d"), "the node takes it")
                #expect(try await request(control, "hello", ["padding": .string("x")])["name"] == .string("d"))
                do {
                    _ = try await request(control, "hello", padding, timeoutMilliseconds: 3000)
                    Issue.record("a reply to a frame over the relay's limit")
                } catch let error as BusError {
                    #expect(error.code == .timeout, "\(error)")
                }
            }
        }

        @Test func badArgumentsGetTheOneErrorShape() async throws {
            for arguments in [
                ["relay", "--upstream-control", "nowhere", "--control", "tcp://127.0.0.1:*"],
                ["relay", "--upstream-control", "tcp://127.0.0.1:1", "--control", "tcp://127.0.0.1:99999"],
                ["relay", "--upstream-control", "tcp://127.0.0.1:1", "--control", "tcp://127.0.0.1:*", "--upstream-client-key", "k"],
                ["relay", "--control", "tcp://127.0.0.1:*"],
                ["relay", "--upstream-control", "tcp://127.0.0.1:1", "--control", "tcp://127.0.0.1:*", "--max-message-size", "0"],
            ] {
                let run = try await runPolicybus(arguments)
                #expect(run.status == 64, "\(arguments): \(run)")
                #expect(run.stderr.contains("Usage: policybus relay") && run.stderr.contains("Error: "), "\(arguments): \(run.stderr)")
            }
            let run = try await runPolicybus(["relay", "--upstream-control", "tcp://127.0.0.1:1", "--control", "tcp://127.0.0.1:*", "--curve-secret-key", "/no/such/key"])
            #expect(run.status == 1, "\(run)")
            #expect(run.stderr.contains("error[io]"), "\(run.stderr)")
        }
    }
}
