import Foundation
import PolicyBus
import PolicyEngine
import Testing
import ZeroMQ

/// The Swift `Subscriber` against in-process nodes.
@Suite struct SubscriberTests {
    /// A data source serving `data:q` = {1}. A short heartbeat makes
    /// silence show sooner; a test that expects no resync takes a long one,
    /// because on a loaded machine 3 short heartbeats can pass unseen.
    func withDataSource(heartbeatMilliseconds: Int = 100, _ body: (NodeThread) async throws -> Void) async throws {
        let node = try NodeThread.start(name: "test-source") { () throws(BusError) -> Node in
            var options = NodeOptions(name: "data", control: "tcp://127.0.0.1:*")
            options.heartbeatMilliseconds = heartbeatMilliseconds
            return try Node.dataSource(options, tables: ["q": [[.int(1)]]], context: try Self.context())
        }
        do {
            try await body(node)
        } catch {
            _ = try? await offPool { node.stop() }
            throw error
        }
        _ = try await offPool { node.stop() }
    }

    static func context() throws(BusError) -> Context {
        do { return try Context() } catch { throw BusError(.transport, "\(error)") }
    }

    @Test func snapshotThenDeltasAndCurrentContents() async throws {
        try await withDataSource(heartbeatMilliseconds: 2000) { node in
            let table = TableID("data:q")!
            let subscriber = try Subscriber(connect: node.controlEndpoint, tables: [table])
            var iterator = subscriber.changes.makeAsyncIterator()
            #expect(await iterator.next() == .snapshot(table, rows: [[.int(1)]], seq: 1))
            node.control.submit { node in try? node.applyFacts([.insert(table: "q", row: [.int(2)]), .delete(table: "q", row: [.int(1)])]) }
            #expect(await iterator.next() == .delta(table, added: [[.int(2)]], removed: [[.int(1)]], seq: 2))
            #expect(subscriber.rows(of: table) == [[.int(2)]])
            subscriber.close()
            while await iterator.next() != nil {}
        }
    }

    @Test func endingTheIterationUnsubscribes() async throws {
        try await withDataSource { node in
            let table = TableID("data:q")!
            let task = Task {
                let subscriber = try Subscriber(connect: node.controlEndpoint, tables: [table])
                for await change in subscriber.changes {
                    if case .snapshot = change { break }
                }
            }
            try await task.value
            let deadline = Date().addingTimeInterval(60)
            var subscriptions: [JSON]? = nil
            while Date() < deadline {
                subscriptions = try await request(node.controlEndpoint, "status")["subscriptions"]?.arrayValue
                if subscriptions == [] { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(subscriptions == [])
        }
    }

    /// A consumer that does not read while hundreds of deltas arrive holds at
    /// most `bufferLimit` of them, then gets the table's contents again.
    @Test func aConsumerThatFallsBehindGetsTheContentsAgainWithinTheLimit() async throws {
        try await withDataSource { node in
            let table = TableID("data:q")!
            let limit = 8
            let subscriber = try Subscriber(connect: node.controlEndpoint, tables: [table], bufferLimit: limit)
            for value in 2...501 {
                node.control.submit { node in try? node.applyFacts([.insert(table: "q", row: [.int(Int64(value))])]) }
            }
            let expected = Set((1...501).map { [Value.int(Int64($0))] })
            let deadline = Date().addingTimeInterval(60)
            while subscriber.rows(of: table) != expected && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(subscriber.rows(of: table) == expected)
            // Not converging must fail the test, not hang it.
            let watchdog = Task {
                try await Task.sleep(for: .seconds(60))
                subscriber.close()
            }
            var model: Set<Row> = []
            var received = 0
            for await change in subscriber.changes {
                received += 1
                switch change {
                case .snapshot(_, let rows, _): model = rows
                case .delta(_, let added, let removed, _):
                    model.subtract(removed)
                    model.formUnion(added)
                default: break
                }
                if model == expected { break }
            }
            watchdog.cancel()
            #expect(model == expected)
            #expect(received <= limit + 1, "the buffered changes, then one snapshot")
            subscriber.close()
        }
    }

    @Test func refusedTablesAreReported() async throws {
        try await withDataSource { node in
            let table = TableID("other:q")!
            let subscriber = try Subscriber(connect: node.controlEndpoint, tables: [table])
            var iterator = subscriber.changes.makeAsyncIterator()
            let change = await iterator.next()
            guard case .failed(let failed, let error)? = change else {
                Issue.record("expected a failure, got \(String(describing: change))")
                return
            }
            #expect(failed == table)
            #expect(error.code == .unknownTable)
            subscriber.close()
        }
    }
}
