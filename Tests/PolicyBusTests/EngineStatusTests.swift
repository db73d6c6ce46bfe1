import Foundation
import PolicyBus
import Testing
import ZeroMQ

/// `status` counts an engine table's rows (from the engine's count, not by
/// building and sorting the table).
@Suite struct EngineStatusTests {
    @Test func statusCountsAnEngineTablesRows() async throws {
        try await withProcesses { processes in
            let (_, control) = try await processes.engine("E", policies: [("c", "q(1).\nq(2).\nq(3).\np(x) :- q(x), gt(x, 1).")], peers: [])
            let rows = try await offPool { () throws -> Int64? in
                let context = try ZeroMQ.Context()
                let client = try ControlClient(context: context, endpoint: control, timeoutMilliseconds: 5000)
                defer { client.close() }
                _ = try client.request("subscribe", ["tables": .array([.string("c:p")])])
                return try client.request("status")["tables"]?["c:p"]?["rows"]?.intValue
            }
            #expect(rows == Int64(try await queryRows(control, "c:p").count))
            #expect(rows == 2)
        }
    }
}
