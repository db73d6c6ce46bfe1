import Testing
import TestSupport

@testable import PolicyBus

/// The node's per-connection request queues: each bounded, served
/// round-robin, and gone when empty.
@Suite struct RequestQueueTests {
    func request(from peer: UInt8, _ number: Int) -> RequestQueue.Request {
        .init(frames: [[peer], Array("\(number)".utf8)], userID: nil)
    }

    /// Random arrivals from a few connections, served between them: every
    /// connection's requests come out in order; the connections take turns
    /// (in the order they started waiting, a served one with more to the
    /// back of the line); and a request over the bound is refused exactly
    /// when its connection has the bound's worth waiting.
    @Test func servesConnectionsInTurnEachInOrderWithinItsBound() {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("RequestQueueTests seed: \(seed)")
        var random = SeededRandom(seed: seed)
        var queue = RequestQueue(limit: 5)
        var waiting: [UInt8: [Int]] = [:]
        var sent = 0
        var line: [UInt8] = []
        for _ in 0..<2000 {
            if random.next() % 3 != 0 {
                let peer = UInt8(random.next() % 4)
                sent += 1
                let accepted = queue.add(request(from: peer, sent))
                #expect(accepted == ((waiting[peer]?.count ?? 0) < 5), "seed \(seed)")
                if accepted {
                    if waiting[peer] == nil { line.append(peer) }
                    waiting[peer, default: []].append(sent)
                }
            } else if let served = queue.next() {
                let peer = served.frames[0][0]
                #expect(peer == line.first, "seed \(seed): \(peer) served out of turn, the line was \(line)")
                line.removeFirst()
                #expect(Int(String(decoding: served.frames[1], as: UTF8.self)) == waiting[peer]?.first, "seed \(seed): out of order")
                waiting[peer]!.removeFirst()
                if waiting[peer]!.isEmpty {
                    waiting[peer] = nil
                } else {
                    line.append(peer)
                }
            }
            #expect(queue.connectionCount == waiting.count, "seed \(seed)")
            #expect(queue.isEmpty == waiting.isEmpty)
        }
    }
}
