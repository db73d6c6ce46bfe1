import PolicyEngine
import Testing
import ZeroMQ

@testable import PolicyBus

@Suite struct SubscriptionSessionTests {
    /// A subscribe reply without `epoch` must not leave its tables waiting
    /// forever: they are asked for again.
    @Test func aSubscribeReplyWithoutEpochAsksAgain() throws {
        let context = try Context()
        // Nothing needs to listen: the reply is handed to the session directly.
        let session = try SubscriptionSession(context: context, controlEndpoint: "tcp://127.0.0.1:1")
        defer { session.close() }
        let table = try #require(TableID("data:q"))
        session.subscribe([table])
        session.needsSnapshot.removeAll()  // as after the subscribe request was sent
        let events = session.applySnapshots(.object(["tables": .object([table.description: .object(["seq": .int(1), "rows": .array([])])])]), tables: [table])
        #expect(events.isEmpty)
        #expect(session.needsSnapshot.contains(table))
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

    /// Runs the session's loop (as its owner would) until `done`, for at most 20 s.
    func drive(_ session: SubscriptionSession, _ control: FakeControl, data: String, until done: () -> Bool) throws {
        var poller = Poller()
        for socket in session.sockets { poller.add(socket) }
        poller.add(control.router)
        let deadline = monotonicNanoseconds() + .milliseconds(20_000)
        while !done(), monotonicNanoseconds() < deadline {
            try poller.poll(timeout: 20)
            try control.serve(data: data)
            for index in session.sockets.indices where poller.isReadable(index) { _ = session.readable(socket: index) }
            _ = session.tick(now: monotonicNanoseconds())
        }
    }

    /// The ops the fake node got from a session whose hello reply names
    /// `data`, once `done` holds (or 20 s passed).
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
            let session = try SubscriptionSession(context: context, controlEndpoint: control.endpoint)
            defer { session.close() }
            session.joinWaitMilliseconds = joinWaitMilliseconds
            session.subscribe([TableID("data:q")!])
            try drive(session, control, data: data) { done(control.ops) }
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
