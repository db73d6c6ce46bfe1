import PolicyEngine
import Testing
import ZeroMQ

@testable import PolicyBus

/// The sans-IO session on its own: requests and replies as frames, a fake
/// clock, no sockets.
@Suite struct SubscriptionSessionTests {
    static let table = TableID("data:q")!
    static let second: UInt64 = 1_000_000_000

    /// A session whose hello was answered with an inproc data endpoint (no
    /// join wait), so snapshot requests go out at once.
    func helloed(now: UInt64 = 0) -> SubscriptionSession {
        var session = SubscriptionSession(controlEndpoint: "tcp://127.0.0.1:1", clientID: "test")
        session.subscribe([Self.table], now: now)
        let hello = sentRequests(&session).first { $0.op == "hello" }!
        _ = session.receiveReply(reply(to: hello.id, ["data": .string("inproc://data")]), now: now)
        return session
    }

    /// The requests among the session's actions: op and id.
    func sentRequests(_ session: inout SubscriptionSession) -> [(op: String, id: Int64)] {
        session.takeActions().compactMap { action in
            guard case .send(let frame) = action, let json = try? JSON.parse(frame),
                let op = json["op"]?.stringValue, let id = json["id"]?.intValue
            else { return nil }
            return (op, id)
        }
    }

    func reply(to id: Int64, _ fields: [String: JSON] = [:]) -> [UInt8] {
        var body = fields
        body["ok"] = .bool(true)
        body["id"] = .int(id)
        return Array(JSON.object(body).text.utf8)
    }

    /// A subscribe reply with one row in the table's snapshot.
    func snapshotReply(to id: Int64, seq: Int64 = 1) -> [UInt8] {
        reply(to: id, [
            "epoch": .string("e1"), "data": .string("inproc://data"),
            "tables": .object([Self.table.description: .object(["seq": .int(seq), "rows": .array([.array([.int(1)])])])]),
        ])
    }

    /// A subscribe reply without `epoch` must not leave its tables waiting
    /// forever: they are asked for again.
    @Test func aSubscribeReplyWithoutEpochAsksAgain() throws {
        var session = helloed()
        let first = try #require(sentRequests(&session).first { $0.op == "subscribe" })
        let events = session.receiveReply(
            reply(to: first.id, ["tables": .object([Self.table.description: .object(["seq": .int(1), "rows": .array([])])])]), now: 0)
        #expect(events.isEmpty)
        #expect(sentRequests(&session).contains { $0.op == "subscribe" && $0.id != first.id })
    }

    /// An engine whose inputs are still syncing answers `not-ready`: the
    /// table stays subscribed and is asked for again after a request timeout,
    /// not at once, and the snapshot that follows is taken.
    @Test func notReadyIsAskedAgainAfterARequestTimeout() throws {
        var session = helloed()
        let first = try #require(sentRequests(&session).first { $0.op == "subscribe" })
        let refusal = Array(#"{"ok":false,"id":\#(first.id),"error":{"code":"not-ready","message":"no snapshot yet"}}"#.utf8)
        #expect(session.receiveReply(refusal, now: Self.second).isEmpty)
        #expect(session.subscriptions[Self.table] != nil)
        var again: [(op: String, id: Int64)] = []
        var now = Self.second
        while again.isEmpty && now < 10 * Self.second {
            now += Self.second / 10
            _ = session.tick(now: now)
            again = sentRequests(&session).filter { $0.op == "subscribe" }
        }
        #expect(now - Self.second >= UInt64(session.requestTimeoutMilliseconds) * 1_000_000, "asked again after \(now - Self.second) ns")
        let retry = try #require(again.first)
        let events = session.receiveReply(snapshotReply(to: retry.id), now: now)
        #expect(events.contains { event in
            if case .table(Self.table, .snapshot(let rows, seq: 1)) = event { return rows.count == 1 }
            return false
        })
    }

    /// A resync after a gap asks with `since` (the epoch and seq the
    /// contents stand at); a resumed reply's deltas are applied on top, as
    /// deltas, with no snapshot.
    @Test func aResyncResumesFromTheContentsWithSince() throws {
        var session = helloed()
        let first = try #require(sentRequests(&session).first { $0.op == "subscribe" })
        _ = session.receiveReply(snapshotReply(to: first.id, seq: 1), now: 0)
        var events: [SubscriptionSession.Event] = []
        let ahead = DataMessage.delta(.init(table: Self.table, publisher: "n", epoch: "e1", seq: 3, added: [[.int(3)]], removed: []))
        session.receiveData(ahead.encoded(), now: 0, into: &events)
        #expect(events == [.table(Self.table, .resync(.gap))])
        let actions = session.takeActions()
        let frames = actions.compactMap { action -> JSON? in
            guard case .send(let frame) = action else { return nil }
            return try? JSON.parse(frame)
        }
        let resync = try #require(frames.first { $0["op"] == .string("subscribe") })
        #expect(resync["since"] == .object(["epoch": .string("e1"), "seq": .int(1)]))
        let id = try #require(resync["id"]?.intValue)
        let resumed = reply(to: id, [
            "epoch": .string("e1"), "data": .string("inproc://data"),
            "tables": .object([Self.table.description: .object([
                "seq": .int(3), "columns": .null, "resumed": .bool(true),
                "deltas": .array([
                    .object(["seq": .int(2), "added": .array([.array([.int(2)])]), "removed": .array([.array([.int(1)])])]),
                    .object(["seq": .int(3), "added": .array([.array([.int(3)])]), "removed": .array([])]),
                ]),
            ])]),
        ])
        let applied = session.receiveReply(resumed, now: 0).filter { if case .columns = $0 { false } else { true } }
        #expect(applied == [
            .table(Self.table, .resumed(seq: 3)),
            .table(Self.table, .delta(added: [[.int(2)]], removed: [[.int(1)]], seq: 2)),
            .table(Self.table, .delta(added: [[.int(3)]], removed: [], seq: 3)),
        ])
        #expect(session.rows(of: Self.table) == [[.int(2)], [.int(3)]])
        #expect(session.seq(of: Self.table) == 3)
    }

    /// A new epoch (the node restarted) cannot resume: the resync asks
    /// for a snapshot, without `since`.
    @Test func aNewEpochAsksForASnapshotWithoutSince() throws {
        var session = helloed()
        let first = try #require(sentRequests(&session).first { $0.op == "subscribe" })
        _ = session.receiveReply(snapshotReply(to: first.id, seq: 1), now: 0)
        var events: [SubscriptionSession.Event] = []
        let restarted = DataMessage.heartbeat(.init(table: Self.table, publisher: "n", epoch: "e2", seq: 0))
        session.receiveData(restarted.encoded(), now: 0, into: &events)
        #expect(events == [.table(Self.table, .resync(.newEpoch))])
        let frames = session.takeActions().compactMap { action -> JSON? in
            guard case .send(let frame) = action else { return nil }
            return try? JSON.parse(frame)
        }
        let resync = try #require(frames.first { $0["op"] == .string("subscribe") })
        #expect(resync["since"] == nil)
    }

    /// Resumed deltas that do not follow the contents are not applied: the
    /// table asks again, for a snapshot (no `since`).
    @Test func aResumeThatDoesNotFitAsksForASnapshot() throws {
        var session = helloed()
        let first = try #require(sentRequests(&session).first { $0.op == "subscribe" })
        _ = session.receiveReply(snapshotReply(to: first.id, seq: 1), now: 0)
        var events: [SubscriptionSession.Event] = []
        let ahead = DataMessage.delta(.init(table: Self.table, publisher: "n", epoch: "e1", seq: 5, added: [], removed: [[.int(1)]]))
        session.receiveData(ahead.encoded(), now: 0, into: &events)
        let resync = try #require(sentRequests(&session).first { $0.op == "subscribe" })
        let skipping = reply(to: resync.id, [
            "epoch": .string("e1"),
            "tables": .object([Self.table.description: .object([
                "seq": .int(5), "resumed": .bool(true),
                "deltas": .array([.object(["seq": .int(5), "added": .array([]), "removed": .array([.array([.int(1)])])])]),
            ])]),
        ])
        #expect(session.receiveReply(skipping, now: 0).isEmpty)
        let frames = session.takeActions().compactMap { action -> JSON? in
            guard case .send(let frame) = action else { return nil }
            return try? JSON.parse(frame)
        }
        let again = try #require(frames.first { $0["op"] == .string("subscribe") })
        #expect(again["since"] == nil)
    }

    /// Issue 13's livelock: a node slower than the request timeout to send a
    /// large snapshot was asked for it again every 2 s, and each late reply
    /// was thrown away. Now each repeat waits twice as long (up to 32 s), and
    /// a reply to any request still outstanding is taken.
    @Test func aSlowSnapshotIsAskedForLessAndLessOftenAndTakenWhenItComes() throws {
        var session = helloed()
        var subscribes = sentRequests(&session).filter { $0.op == "subscribe" }.map { (id: $0.id, at: UInt64(0)) }
        #expect(subscribes.count == 1)
        // Ten minutes of fake time, ticked every 100 ms, without a reply.
        for tick in 1...6000 {
            let now = UInt64(tick) * Self.second / 10
            _ = session.tick(now: now)
            subscribes += sentRequests(&session).filter { $0.op == "subscribe" }.map { (id: $0.id, at: now) }
        }
        let gaps = zip(subscribes.dropFirst(), subscribes).map { ($0.at - $1.at) / Self.second }
        // Each gap is its request's timeout (to the tick): 2, 4, 8, 16, then 32 s.
        #expect(Array(gaps.prefix(5)) == [2, 4, 8, 16, 32], "\(gaps)")
        #expect(gaps.dropFirst(4).allSatisfy { $0 == 32 }, "\(gaps)")
        #expect(subscribes.count < 25, "asked \(subscribes.count) times in 10 minutes")
        // A reply to an earlier request still outstanding is taken.
        let late = subscribes[subscribes.count - 2]
        let now = 600 * Self.second
        let events = session.receiveReply(snapshotReply(to: late.id), now: now)
        #expect(events.contains(.table(Self.table, .snapshot(rows: [[.int(1)]], seq: 1))), "\(events)")
        #expect(session.isSynced)
        // The newest request's reply comes too, and changes nothing.
        let newest = subscribes[subscribes.count - 1]
        #expect(session.receiveReply(snapshotReply(to: newest.id, seq: 7), now: now).isEmpty)
        #expect(session.seq(of: Self.table) == 1)
        // Synced: no more snapshot requests, though older ones are still out
        // (within the silence limit, 3 heartbeats).
        _ = session.tick(now: now + 2 * Self.second)
        #expect(!sentRequests(&session).contains { $0.op == "subscribe" })
    }

    /// The first request's reply, arriving after the repeat went out, is
    /// taken; and after a sync the next resync starts again at 2 s.
    @Test func aLateReplyToTheFirstRequestIsTakenAndTheBackoffResets() throws {
        var session = helloed()
        let first = try #require(sentRequests(&session).first { $0.op == "subscribe" })
        _ = session.tick(now: 2 * Self.second + 1)
        let repeated = try #require(sentRequests(&session).first { $0.op == "subscribe" })
        #expect(repeated.id != first.id)
        let events = session.receiveReply(snapshotReply(to: first.id), now: 3 * Self.second)
        #expect(events.contains(.table(Self.table, .snapshot(rows: [[.int(1)]], seq: 1))))
        // A delta with a gap (seq 3 after 1) starts a resync at once...
        var data: [SubscriptionSession.Event] = []
        let delta = Array("data:q {\"type\":\"delta\",\"pub\":\"data\",\"epoch\":\"e1\",\"seq\":3,\"added\":[[3]],\"removed\":[]}".utf8)
        session.receiveData(delta, now: 4 * Self.second, into: &data)
        #expect(data == [.table(Self.table, .resync(.gap))])
        let resync = try #require(sentRequests(&session).first { $0.op == "subscribe" })
        // ...whose request times out after 2 s again, not 4.
        _ = session.tick(now: 6 * Self.second - 1)
        #expect(!sentRequests(&session).contains { $0.op == "subscribe" })
        _ = session.tick(now: 6 * Self.second + 1)
        let again = try #require(sentRequests(&session).first { $0.op == "subscribe" })
        #expect(again.id != resync.id)
    }

    /// The clock is the caller's: a tick at the same time does nothing twice.
    @Test func theSessionReadsNoClock() throws {
        var session = helloed(now: 5 * Self.second)
        #expect(sentRequests(&session).filter { $0.op == "subscribe" }.count == 1)
        _ = session.tick(now: 5 * Self.second)
        #expect(sentRequests(&session).map(\.op) == ["renew"])
        _ = session.tick(now: 5 * Self.second)
        #expect(sentRequests(&session).isEmpty)
    }
}

/// The late joiner: a session asks for snapshots only once its SUB has
/// joined the data endpoint (its handshake is done), or after
/// `joinWaitMilliseconds`, so that the publisher knows the SUB's
/// subscriptions when it takes the snapshot.
@Suite struct SubscriptionSessionJoinTests {
    /// A fake node's control socket: answers `hello` with `data`, and records
    /// the ops of every other request.
    final class FakeControl {
        let router: Socket
        let endpoint: String
        var ops: [String] = []

        init(_ context: Context) throws {
            router = try Socket(context, .router)
            try router.set(.linger, 0)
            try router.bind("tcp://127.0.0.1:*")
            endpoint = try router.lastEndpoint
        }

        /// Answers what arrived; `hello` gets `data` as the data endpoint.
        func serve(data: String) throws {
            while let frames = try router.tryReceive() {
                guard frames.count == 2, let request = try? JSON.parse(frames[1]), let op = request["op"]?.stringValue else { continue }
                ops.append(op)
                guard op == "hello" else { continue }
                let reply: JSON = .object([
                    "ok": .bool(true), "id": request["id"] ?? .null, "data": .string(data),
                    "heartbeat_ms": .int(1000), "lease_ms": .int(10_000),
                ])
                try router.send([frames[0], Array(reply.text.utf8)])
            }
        }
    }

    /// The ops the fake node got from a connection whose hello reply names
    /// `data`, once `done` holds (or 20 s passed): the fake node and the
    /// connection share one loop.
    func ops(data: String, joinWaitMilliseconds: Int, publisher: Bool = false, until done: @escaping @Sendable ([String]) -> Bool) async throws -> [String] {
        try await offPool { () throws -> [String] in
            let context = try Context()
            let control = try FakeControl(context)
            let pub = try Socket(context, .pub)
            defer { pub.close() }
            var data = data
            if publisher {
                try pub.bind(data)
                data = try pub.lastEndpoint
            }
            let loop = try PollLoop()
            let connection = try SubscriptionConnection(loop: loop, context: context, controlEndpoint: control.endpoint)
            defer { connection.close() }
            connection.session.joinWaitMilliseconds = joinWaitMilliseconds
            loop.add(control.router) { [data] _ in
                try? control.serve(data: data)
                if done(control.ops) { loop.stop() }
            }
            loop.at(monotonicNanoseconds() + .milliseconds(20_000)) { _ in loop.stop() }
            connection.subscribe([TableID("data:q")!])
            try loop.run()
            return control.ops
        }
    }

    @Test func noSnapshotIsAskedForBeforeTheSubJoins() async throws {
        // Nothing listens on port 1, and the join wait is longer than the test.
        // A renew follows the hello reply on the same connection, after the
        // flush that would have sent a premature subscribe.
        let ops = try await ops(data: "tcp://127.0.0.1:1", joinWaitMilliseconds: 600_000) { $0.contains("renew") }
        #expect(ops.contains("renew"), "\(ops)")
        #expect(!ops.contains("subscribe"), "a snapshot was asked for before the SUB joined: \(ops)")
    }

    @Test func aSnapshotIsAskedForOnceTheSubJoins() async throws {
        // The join wait is longer than the test: only the SUB's handshake can end it.
        let ops = try await ops(data: "tcp://127.0.0.1:*", joinWaitMilliseconds: 600_000, publisher: true) { $0.contains("subscribe") }
        #expect(ops.contains("subscribe"), "the SUB joined, yet no snapshot was asked for: \(ops)")
    }

    @Test func aDataEndpointThatNeverAnswersDelaysTheSnapshotOnlyByTheJoinWait() async throws {
        let ops = try await ops(data: "tcp://127.0.0.1:1", joinWaitMilliseconds: 200) { $0.contains("subscribe") }
        #expect(ops.contains("subscribe"), "\(ops)")
    }
}
