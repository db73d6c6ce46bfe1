import Foundation
import PolicyBus
import PolicyEngine

// MARK: - 8. --ingress: decoding large request frames

/// What the node's edge costs on large frames, as `Node.answer` decodes
/// them (`ControlRequest(frame:)`, then `ControlCommand(_:limits:)`, the
/// default limits): hostile frames refused (`too-large`, `too-many-rows`)
/// and a legitimate facts request at the row limit. The baseline in the
/// same run is Foundation's `JSONSerialization` reading the same bytes into
/// a tree. Thread CPU time, the best of `rounds`: a busy machine preempts a
/// wall-clock loop.
func ingress(rounds: Int) {
    print("BusBench --ingress: decoding large request frames (thread CPU, best of \(rounds)), against JSONSerialization")
    let megabytes = 10 << 20
    let bigString = String(repeating: "x", count: megabytes)
    let cases: [(name: String, frame: [UInt8])] = [
        ("hello, 10 MB client", frame(["op": .string("hello"), "id": .int(1), "client": .string(bigString)])),
        ("subscribe, 10 MB client", frame([
            "op": .string("subscribe"), "id": .int(1), "client": .string(bigString), "tables": .array([.string("data:q")]),
        ])),
        ("facts, 10 MB table name", frame([
            "op": .string("facts"), "id": .int(1), "client": .string("c"), "action": .string("insert"),
            "table": .string("data:" + bigString), "rows": .array([]),
        ])),
        ("simulate, 200k one-row changes", frame([
            "op": .string("simulate"), "id": .int(1), "client": .string("c"), "tables": .array([.string("p:p")]),
            "changes": .array((0..<200_000).map { index in
                .object(["op": .string("facts"), "action": .string("insert"), "table": .string("data:q"), "rows": JSON(rows: [[.int(Int64(index))]])])
            }),
        ])),
        ("facts, 3M rows [0] (hostile)", frame([
            "op": .string("facts"), "id": .int(1), "client": .string("c"), "action": .string("insert"), "table": .string("data:q"),
            "rows": .array(Array(repeating: .array([.int(0)]), count: 3_000_000)),
        ])),
        ("facts, 100k rows [int, string]", frame([
            "op": .string("facts"), "id": .int(1), "client": .string("c"), "action": .string("insert"), "table": .string("data:q"),
            "rows": JSON(rows: (0..<100_000).map { [.int(Int64($0)), .string("server-\($0)")] }),
        ])),
    ]
    for (name, frame) in cases {
        let ours = best(of: rounds) { decodeAtTheEdge(frame) }
        let foundation = best(of: rounds) { _ = try? JSONSerialization.jsonObject(with: Data(frame)) }
        let outcome = decodeAtTheEdge(frame)
        print(
            "ingress  \(name) (\(frame.count >> 10) KiB): \(format(ours)) ms -> \(outcome); JSONSerialization \(format(foundation)) ms; ratio \(String(format: "%.2f", ours / foundation))"
        )
    }
}

private func frame(_ members: [String: JSON]) -> [UInt8] {
    var writer = JSONWriter()
    writer.json(.object(members))
    return writer.bytes
}

/// The node's decode of one frame: "ok" or the refusal's code.
@discardableResult
private func decodeAtTheEdge(_ frame: [UInt8]) -> String {
    do {
        let request = try ControlRequest(frame: frame)
        _ = try ControlCommand(request, limits: BusLimits())
        return "ok"
    } catch {
        return error.code.rawValue
    }
}

/// The least thread CPU time of `rounds` runs of `body`, in milliseconds.
private func best(of rounds: Int, _ body: () -> Void) -> Double {
    var least = Double.infinity
    for _ in 0..<rounds {
        let start = threadCPUNanoseconds()
        body()
        least = min(least, Double(threadCPUNanoseconds() - start) / 1e6)
    }
    return least
}
