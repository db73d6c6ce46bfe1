import Foundation
import PolicyBus
import PolicyEngine
import Testing
import ZeroMQ

/// The registry alone: identities with the same id and different keys.
@Suite struct ClientIdentityRegistryTests {
    let p = TableID("a:p")!
    let q = TableID("a:q")!

    @Test func theSameIdUnderTwoKeysIsTwoClients() {
        var registry = SubscriptionRegistry()
        let alice = ClientIdentity("c1", key: "alice-key")
        let bob = ClientIdentity("c1", key: "bob-key")
        #expect(registry.subscribe(alice, to: [p], until: 10) == [p])
        #expect(registry.subscribe(bob, to: [p], until: 10) == [])
        #expect(registry.subscriberCount(p) == 2)
        #expect(registry.unsubscribe(bob, from: [p]) == [])
        #expect(registry.tables(of: alice) == [p])
        #expect(registry.tables(of: bob) == [])
        // Bob's (or a plaintext) renewal of "c1" does not extend alice's lease.
        registry.renew(bob, until: 100)
        registry.renew(ClientIdentity("c1"), until: 100)
        let expired = registry.expire(now: 50)
        #expect(expired.clients == [alice])
        #expect(expired.closed == [p])
    }

    @Test func subscriptionsAreCountedPerKeyOverAllItsIds() {
        var registry = SubscriptionRegistry()
        _ = registry.subscribe(ClientIdentity("c1", key: "k"), to: [p, q], until: 10)
        _ = registry.subscribe(ClientIdentity("c2", key: "k"), to: [p], until: 10)
        _ = registry.subscribe(ClientIdentity("c1", key: "other"), to: [p], until: 10)
        _ = registry.subscribe(ClientIdentity("c1"), to: [p], until: 10)
        #expect(registry.subscriptionCount(key: "k") == 3)
        #expect(registry.subscriptionCount(key: "other") == 1)
        _ = registry.unsubscribe(ClientIdentity("c1", key: "k"), from: [p, q, q])
        #expect(registry.subscriptionCount(key: "k") == 1)
        _ = registry.expire(now: 20)
        #expect(registry.subscriptionCount(key: "k") == 0)
        #expect(registry.clients.isEmpty)
    }
}

extension ProcessSuites {
    /// A CURVE engine with an allow-list scopes client ids by key: alice and
    /// bob both send `client` "c1" and never touch each other's subscriptions.
    @Suite(.serialized) struct ClientKeySecurityTests {
        typealias Keys = SecurityTests.Keys

        static let policy = "p(x) :- data:q(x), gt(x, 2)."
        static let table = "classification:p"

        enum Mode: CaseIterable {
            /// `--curve-secret-key` and `--authorized-keys` listing alice and bob.
            case allowList
            /// `--curve-secret-key` alone: any key is admitted.
            case anyKey
            case plaintext
        }

        /// A plaintext data source and an engine subscribing to it; `body`
        /// gets the keys, the source, and the engine's control and data endpoints.
        func withEngine(
            _ mode: Mode = .allowList, extra: [String] = [],
            _ body: (Keys, _ source: BusProcess, _ control: String, _ data: String) async throws -> Void
        ) async throws {
            let keys = try Keys()
            defer { keys.remove() }
            for name in ["server", "alice", "bob"] { try keys.pair(name) }
            let curve: [String] = switch mode {
            case .allowList: ["--curve-secret-key", keys.path("server.key"), "--authorized-keys", try keys.allowList("server", ["alice", "bob"])]
            case .anyKey: ["--curve-secret-key", keys.path("server.key")]
            case .plaintext: []
            }
            try await withProcesses { processes in
                let (source, sourceEndpoint) = try await processes.dataSource("data")
                source.write("+q(3)")
                let (engineProcess, control) = try await processes.engine(
                    "scoped", policies: [("classification", Self.policy)], peers: [("data", sourceEndpoint)], extra: curve + extra)
                try await body(keys, source, control, try await engineProcess.endpoints().data)
            }
        }

        static func curve(_ keys: Keys, _ client: String) throws -> CurveClientConfiguration {
            try CurveClientConfiguration(
                serverKey: try keys.publicKey("server"),
                keys: try CurveKeyPair(publicKey: try keys.publicKey(client), secretKey: try keys.secretKey(client)))
        }

        /// Requests from each named client in turn, each with the given `client`
        /// id (blocking: runs off the pool). Returns the replies, or the error codes.
        static func requests(
            _ control: String, _ keys: Keys, mode: Mode = .allowList, _ steps: [(key: String, id: String, op: String, fields: [String: JSON])]
        ) async throws -> [JSON] {
            var curves: [String: CurveClientConfiguration] = [:]
            if mode != .plaintext {
                for name in Set(steps.map(\.key)) { curves[name] = try curve(keys, name) }
            }
            let configurations = curves
            return try await offPool {
                let context = try ZeroMQ.Context()
                var replies: [JSON] = []
                for step in steps {
                    let client = try ControlClient(
                        context: context, endpoint: control, clientID: step.id, timeoutMilliseconds: 5000, curve: configurations[step.key])
                    defer { client.close() }
                    do throws(BusError) {
                        replies.append(try client.request(step.op, step.fields))
                    } catch {
                        replies.append(.object(["error": .string(error.code.rawValue)]))
                    }
                }
                return replies
            }
        }

        static let tables: [String: JSON] = ["tables": .array([.string(table)])]

        func subscriptions(_ status: JSON) -> [(client: String?, key: String?, tables: [JSON]?)] {
            (status["subscriptions"]?.arrayValue ?? []).map { ($0["client"]?.stringValue, $0["key"]?.stringValue, $0["tables"]?.arrayValue) }
        }

        @Test func anotherKeysUnsubscribeAndRenewDoNotTouchASubscriptionWithTheSameId() async throws {
            try await withEngine { keys, source, control, data in
                let alice = try keys.publicKey("alice")
                let bob = try keys.publicKey("bob")
                let before = try await Self.requests(control, keys, [
                    ("alice", "c1", "subscribe", Self.tables),
                    ("bob", "c1", "subscribe", Self.tables),
                    ("alice", "c1", "status", [:]),
                ])
                let both = subscriptions(before[2])
                #expect(both.count == 2, "\(before[2])")
                #expect(both.allSatisfy { $0.client == "c1" && $0.tables == [.string(Self.table)] })
                #expect(Set(both.compactMap(\.key)) == [alice, bob])
                #expect(before[2]["tables"]?[Self.table]?["subscribers"]?.intValue == 2)

                let after = try await Self.requests(control, keys, [
                    ("bob", "c1", "unsubscribe", Self.tables),
                    ("bob", "c1", "renew", [:]),
                    ("alice", "c1", "renew", [:]),
                    ("bob", "c1", "status", [:]),
                ])
                #expect(after[0]["tables"] == .array([]))
                #expect(after[1]["tables"] == .array([]))
                #expect(after[2]["tables"] == .array([.string(Self.table)]))
                let left = subscriptions(after[3])
                #expect(left.count == 1)
                #expect(left.first?.client == "c1")
                #expect(left.first?.key == alice)
                #expect(after[3]["tables"]?[Self.table]?["subscribers"]?.intValue == 1)

                // The table is still published: alice's SUB gets the delta for q(9).
                let curve = try Self.curve(keys, "alice")
                let delta = try await offPool {
                    try receiveDelta(data, table: Self.table, adding: [.int(9)], curve: curve, within: 30) { source.write("+q(9)") }
                }
                #expect(delta)
            }
        }

        /// Without an allow-list the node still learns the keys; in plaintext
        /// the id alone is the client, as before.
        @Test(arguments: [Mode.anyKey, .plaintext])
        func theSameIdIsOneClientOnlyInPlaintext(_ mode: Mode) async throws {
            try await withEngine(mode) { keys, _, control, _ in
                let replies = try await Self.requests(control, keys, mode: mode, [
                    ("alice", "c1", "subscribe", Self.tables),
                    ("bob", "c1", "subscribe", Self.tables),
                    ("alice", "c1", "status", [:]),
                    ("bob", "c1", "unsubscribe", Self.tables),
                    ("alice", "c1", "renew", [:]),
                ])
                let listed = subscriptions(replies[2])
                if mode == .plaintext {
                    #expect(listed.count == 1)
                    #expect(listed.first?.key == nil)
                    #expect(replies[4]["tables"] == .array([]), "bob's unsubscribe of c1 is alice's too")
                } else {
                    #expect(Set(listed.compactMap(\.key)) == [try keys.publicKey("alice"), try keys.publicKey("bob")])
                    #expect(replies[4]["tables"] == .array([.string(Self.table)]))
                }
            }
        }

        @Test func oneKeysSubscriptionLimitCountsAllItsIdsButNotOtherKeys() async throws {
            try await withEngine(extra: ["--max-subscriptions", "1"]) { keys, _, control, _ in
                let replies = try await Self.requests(control, keys, [
                    ("alice", "c1", "subscribe", Self.tables),
                    ("alice", "c2", "subscribe", Self.tables),
                    ("bob", "c1", "subscribe", Self.tables),
                    ("alice", "c1", "subscribe", Self.tables),
                    ("bob", "c1", "status", [:]),
                ])
                #expect(replies[0]["error"] == nil)
                #expect(replies[1]["error"] == .string("too-many-subscriptions"))
                #expect(replies[2]["error"] == nil)
                #expect(replies[3]["error"] == nil, "resubscribing to a table it holds adds nothing")
                #expect(subscriptions(replies[4]).map(\.client) == ["c1", "c1"])
            }
        }
    }
}

/// Whether a SUB on `endpoint` receives, within `seconds`, a delta of `table`
/// that adds `row`. Subscribes first and calls `joined` once the table's
/// first message (a heartbeat) arrives, so that a change made then cannot
/// fall into the slow-joiner window. Blocks: call it through `offPool`.
func receiveDelta(
    _ endpoint: String, table: String, adding row: Row, curve: CurveClientConfiguration?, within seconds: Double,
    joined: () -> Void
) throws -> Bool {
    let context = try ZeroMQ.Context()
    let socket = try Socket(context, .sub)
    defer { socket.close() }
    try socket.set(.linger, 0)
    if let curve { try socket.makeCurveClient(serverKey: curve.serverKey, keys: curve.keys) }
    try socket.set(.subscribe, DataMessage.topic(try #require(TableID(table))))
    try socket.connect(endpoint)
    var poller = Poller()
    poller.add(socket)
    let deadline = Date().addingTimeInterval(seconds)
    var heard = false
    while Date() < deadline {
        _ = try? poller.poll(timeout: 50)
        while let frames = try socket.tryReceive() {
            guard let frame = frames.last, let message = try? DataMessage(decoding: frame) else { continue }
            if !heard {
                heard = true
                joined()
            }
            if case .delta(let delta) = message, delta.added.contains(row) { return true }
        }
    }
    return false
}
