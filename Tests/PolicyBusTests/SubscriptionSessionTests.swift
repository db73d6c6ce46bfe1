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

    @Test func noSnapshotIsAskedForBeforeTheSubJoinsAndOneIsOnceItHas() async throws {
        let (endpoint, data, opsBefore, opsAfter) = try await offPool { () throws -> (String?, String, [String], [String]) in
            let context = try Context()
            let control = try FakeControl(context)
            let publisher = try Socket(context, .pub)
            try publisher.set(.linger, 0)
            defer { publisher.close() }
            // Nothing listens at the advertised data endpoint until `publisher` binds it.
            let probe = try Socket(context, .pub)
            try probe.bind("tcp://127.0.0.1:*")
            let data = try probe.lastEndpoint
            probe.close()
            let session = try SubscriptionSession(context: context, controlEndpoint: control.endpoint)
            defer { session.close() }
            session.joinWaitMilliseconds = 600_000  // longer than the test: only the handshake can end it
            session.subscribe([TableID("data:q")!])
            // A renew follows the hello reply on the same connection, after
            // the flush that would have sent a premature subscribe.
            try drive(session, control, data: data) { session.dataEndpoint != nil && control.ops.contains("renew") }
            let before = control.ops
            try publisher.bind(data)
            try drive(session, control, data: data) { control.ops.contains("subscribe") }
            return (session.dataEndpoint, data, before, control.ops)
        }
        #expect(endpoint == data)
        #expect(opsBefore.contains("renew"))
        #expect(!opsBefore.contains("subscribe"), "a snapshot was asked for before the SUB joined: \(opsBefore)")
        #expect(opsAfter.contains("subscribe"), "the SUB joined, yet no snapshot was asked for: \(opsAfter)")
    }

    @Test func aDataEndpointThatNeverAnswersDelaysTheSnapshotOnlyByTheJoinWait() async throws {
        let ops = try await offPool { () throws -> [String] in
            let context = try Context()
            let control = try FakeControl(context)
            let session = try SubscriptionSession(context: context, controlEndpoint: control.endpoint)
            defer { session.close() }
            session.joinWaitMilliseconds = 200
            session.subscribe([TableID("data:q")!])
            // Nothing listens on port 1.
            try drive(session, control, data: "tcp://127.0.0.1:1") { control.ops.contains("subscribe") }
            return control.ops
        }
        #expect(ops.contains("subscribe"), "\(ops)")
    }
}
