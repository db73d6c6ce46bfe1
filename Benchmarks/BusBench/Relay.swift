import Foundation
import PolicyBus
import ZeroMQ

// MARK: - 7. Fan-out through relays

/// The same subscribers and updates as `--fanout`, three ways, a fresh
/// cluster each: on the engine directly; over two relays side by side
/// (engine → relay A and relay B, half the subscribers on each); and over
/// two relays in a chain (engine → relay 1 → relay 2, every subscriber on
/// relay 2). The relays are in-process `Relay`s on their own threads, each
/// with its own libzmq context.
func relayComparison(subscribers: Int, rate: Int, seconds: Double) throws {
    print("BusBench --relay: \(subscribers) subscribers of one engine table at \(rate) updates/s, \(format(seconds)) s each, a fresh cluster per run")
    let count = Int(Double(rate) * seconds)
    try fanOutRun(label: "direct ", subscribers: subscribers, rate: rate, count: count) { cluster in
        FanOutTargets(endpoints: [cluster.engine.controlEndpoint], stop: {})
    }
    try fanOutRun(label: "2 relays side by side", subscribers: subscribers, rate: rate, count: count) { cluster in
        let relays = try (0..<2).map { _ in try startRelay(upstream: cluster.engine.controlEndpoint) }
        return FanOutTargets(endpoints: relays.map(\.controlEndpoint), stop: { for relay in relays { relay.stop() } })
    }
    try fanOutRun(label: "2 relays chained", subscribers: subscribers, rate: rate, count: count) { cluster in
        let first = try startRelay(upstream: cluster.engine.controlEndpoint)
        let second = try startRelay(upstream: first.controlEndpoint)
        return FanOutTargets(endpoints: [second.controlEndpoint], stop: {
            second.stop()
            first.stop()
        })
    }
}

/// A relay of `upstream` on loopback, its XPUB queue as deep as the engine's PUB's.
private func startRelay(upstream: String) throws -> RelayThread {
    var options = RelayOptions(upstreamControl: upstream, control: "tcp://127.0.0.1:*")
    options.logger.logLevel = .warning
    options.sendHighWaterMark = 1_000_000
    return try RelayThread.start(options, context: try makeContext())
}
