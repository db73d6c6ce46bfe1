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
        func number(_ request: RequestQueue.Request) -> Int? { Int(String(decoding: request.frames[1], as: UTF8.self)) }
        for _ in 0..<2000 {
            let action = random.next() % 6
            if action < 4 {
                let peer = UInt8(random.next() % 4)
                sent += 1
                let accepted = queue.add(request(from: peer, sent)) == nil
                #expect(accepted == ((waiting[peer]?.count ?? 0) < 5), "seed \(seed)")
                if accepted {
                    if waiting[peer] == nil { line.append(peer) }
                    waiting[peer, default: []].append(sent)
                }
            } else if action == 4 {
                // A pause takes the even-numbered heads of the first connections in line, but one.
                let excluded = UInt8(random.next() % 5)  // 4: none excluded
                let limit = Int(random.next() % 4) + 1
                let taken = queue.takeFirst(except: excluded == 4 ? nil : [excluded], lookingAt: limit) { (number($0) ?? 1) % 2 == 0 }
                var expected: [Int] = []
                for peer in line.prefix(limit) where peer != excluded {
                    guard let first = waiting[peer]?.first, first % 2 == 0 else { continue }
                    expected.append(first)
                    waiting[peer]!.removeFirst()
                    if waiting[peer]!.isEmpty { waiting[peer] = nil }
                }
                line.removeAll { waiting[$0] == nil }
                #expect(taken.map(number) == expected, "seed \(seed)")
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
            #expect(queue.byteCount == waiting.values.joined().reduce(0) { $0 + 1 + "\($1)".utf8.count }, "seed \(seed)")
        }
    }

    /// Random arrivals of random sizes: the bytes waiting never pass the
    /// byte bound but by one request of a connection that had none waiting
    /// (each may always queue one), a request is refused for its bytes
    /// exactly when it would pass the bound behind its own connection's,
    /// and the count comes back to 0 when everything is served.
    @Test func waitingBytesStayWithinTheBoundButOneRequestPerConnection() {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("RequestQueueTests bytes seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let byteLimit = 1000
        var queue = RequestQueue(limit: 1000, byteLimit: byteLimit)
        var waiting: [UInt8: [Int]] = [:]
        for _ in 0..<3000 {
            if random.next() % 2 == 0 {
                let peer = UInt8(random.next() % 6)
                let size = Int(random.next() % 400)
                let incoming = RequestQueue.Request(frames: [[peer], [UInt8](repeating: 0x20, count: size)], userID: nil)
                let before = queue.byteCount
                let refusal = queue.add(incoming)
                let alone = waiting[peer] == nil
                #expect(refusal == (alone || before + size + 1 <= byteLimit ? nil : .bytes), "seed \(seed)")
                if refusal == nil { waiting[peer, default: []].append(size + 1) }
            } else if let served = queue.next() {
                let peer = served.frames[0][0]
                waiting[peer]!.removeFirst()
                if waiting[peer]!.isEmpty { waiting[peer] = nil }
            }
            #expect(queue.byteCount == waiting.values.joined().reduce(0, +), "seed \(seed)")
            let beyond = waiting.values.map { $0.dropFirst().reduce(0, +) }.reduce(0, +)
            #expect(beyond <= byteLimit, "seed \(seed): \(beyond) bytes waiting behind the first of each connection")
        }
        while queue.next() != nil {}
        #expect(queue.byteCount == 0)
    }
}
