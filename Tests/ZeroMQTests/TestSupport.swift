import Testing
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// The transports every round-trip test runs over.
enum Transport: String, CaseIterable, CustomTestStringConvertible {
    case inproc, ipc, tcp

    var testDescription: String { rawValue }

    /// An endpoint to bind: unique per call, so tests can run in parallel.
    func bindEndpoint() -> String {
        let unique = "\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        switch self {
        case .inproc: return "inproc://test-\(unique)"
        case .ipc: return "ipc:///tmp/zmqtest-\(unique).sock"
        case .tcp: return "tcp://127.0.0.1:*"
        }
    }
}

/// Runs `body` with a fresh context and always terminates it afterwards,
/// even when `body` throws (terminating would hang if a socket were left
/// open, so the teardown doubles as a check).
@discardableResult
func withContext<R>(_ body: (Context) throws -> R) throws -> R {
    let context = try Context()
    defer { context.terminate() }
    return try body(context)
}

/// Binds `server` on a fresh endpoint of `transport` and connects `client`.
/// - Returns: the resolved endpoint.
@discardableResult
func bindAndConnect(_ server: Socket, _ client: Socket, over transport: Transport) throws -> String {
    try server.bind(transport.bindEndpoint())
    let endpoint = try server.lastEndpoint
    try client.connect(endpoint)
    return endpoint
}

/// A PAIR connected to a monitor of `socket`, with a receive timeout so a
/// missing event fails the test instead of hanging it.
func makeMonitor(of socket: Socket, events: MonitorEvents = .all) throws -> Socket {
    let endpoint = "inproc://monitor-\(UInt64.random(in: 0...UInt64.max))"
    try socket.monitor(endpoint, events: events)
    let pair = try Socket(socket.context, .pair)
    try pair.set(.receiveTimeout, 10_000)
    try pair.connect(endpoint)
    return pair
}

/// Reads monitor events until one in `wanted` arrives.
/// - Throws: `EAGAIN` if none comes within the monitor's receive timeout.
func nextEvent(_ monitor: Socket, in wanted: MonitorEvents) throws -> MonitorEvent {
    while true {
        let frames = try monitor.receive()
        let event = try #require(MonitorEvent(frames: frames))
        if !event.event.isDisjoint(with: wanted) { return event }
    }
}

/// Publishes `topic + "#sync"` until `sub` receives one, so that later
/// messages are not lost to the slow-joiner window. Receivers must skip
/// stray sync messages.
func awaitSubscription(pub: Socket, sub: Socket, topic: String) throws {
    var poller = Poller()
    let item = poller.add(sub, events: .readable)
    for _ in 0..<1000 {
        try pub.send([Array((topic + "#sync").utf8)])
        try poller.poll(timeout: 10)
        if poller.isReadable(item) {
            _ = try sub.receive()
            return
        }
    }
    Issue.record("subscription to \(topic) never took effect")
}

extension Array where Element == UInt8 {
    init(_ text: String) { self = Array(text.utf8) }
    var text: String { String(decoding: self, as: UTF8.self) }
}
