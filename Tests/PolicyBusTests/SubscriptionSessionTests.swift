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
