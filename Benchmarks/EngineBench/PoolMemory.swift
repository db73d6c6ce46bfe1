// Pool memory: what an engine keeps after rows of big unique strings are
// inserted and deleted again. The live heap (glibc's mallinfo2: bytes in use,
// mapped blocks included) before, with the rows, and after their deletion.

import Monitoring
import PolicyEngine

/// Bytes the allocator has handed out and not had back.
func liveHeapBytes() -> Int { ProcessMemory.liveHeapBytes ?? 0 }

func poolMemoryWorkload(rows: Int, bytes: Int) throws {
    let engine = Engine()
    try engine.createPolicy("p")
    let table = TableID(service: "p", name: "big")
    func change(delete: Bool, round: Int) throws {
        var transaction = Transaction()
        for index in 0..<rows {
            let text = "r\(round)-\(index)-" + String(repeating: "x", count: bytes)
            if delete { transaction.delete([.int(Int64(index)), .string(text)], from: table) }
            else { transaction.insert([.int(Int64(index)), .string(text)], into: table) }
        }
        try engine.apply(transaction)
    }
    // A first round warms the engine (its arrays keep their capacity, by design).
    try change(delete: false, round: 0)
    try change(delete: true, round: 0)
    let before = liveHeapBytes()
    try change(delete: false, round: 1)
    let with = liveHeapBytes()
    try change(delete: true, round: 1)
    let after = liveHeapBytes()
    precondition(engine.count(of: table) == 0)
    func mib(_ value: Int) -> String { String(format: "%.1f MiB", Double(value) / 1_048_576) }
    print(
        "Pool memory: \(rows) rows of \(bytes)-byte unique strings inserted and deleted: live heap \(mib(before)) before, "
            + "\(mib(with)) with them, \(mib(after)) after (kept \(mib(after - before)) of \(mib(with - before)))")
}
