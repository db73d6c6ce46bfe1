// ZMQBench: PUB/SUB throughput over tcp loopback through the Swift wrapper,
// against the same workload written in C (Benchmarks/c/pubsub_throughput.c,
// compiled here with `cc`), measured in the same run.
//
//   swift build -c release --product ZMQBench && .build/release/ZMQBench [messages] [rounds]
//
// Workload: one process, a publisher thread and a subscriber thread; 3-frame
// messages (20-byte topic, 60-byte header, 40-byte body); high-water marks
// off so nothing is dropped; the subscriber times from the first data
// message to the last. The rounds interleave C and Swift so that load from
// other processes hits both alike; medians are reported.

import Foundation
import Synchronization
import ZeroMQ

let topic = [UInt8]("policy:alice:error  ".utf8)  // 20 bytes
let header = [UInt8](repeating: UInt8(ascii: "h"), count: 60)
let body = [UInt8](repeating: UInt8(ascii: "b"), count: 40)
let syncHeader = [UInt8]("SYNC".utf8)

/// How the Swift subscriber receives.
enum ReceiveMode: String, CaseIterable {
    /// `receive(into:)`, reusing the frame arrays: the hot-path API.
    case reusing = "receive(into:)"
    /// `receive()`, a fresh `[[UInt8]]` per message.
    case allocating = "receive()"
}

/// What the subscriber thread reports back.
final class SubscriberState: Sendable {
    let subscribed = Atomic<Bool>(false)
    let result = Mutex<Result<Double, ZMQError>?>(nil)
    let done = DispatchSemaphore(value: 0)
}

func subscribe(
    _ context: Context, _ endpoint: String, messages: Int, mode: ReceiveMode, state: SubscriberState
) throws(ZMQError) -> Double {
    let sub = try Socket(context, .sub)
    defer { sub.close() }
    try sub.set(.receiveHighWaterMark, 0)
    try sub.set(.subscribe, topic)
    try sub.connect(endpoint)
    var frames: [[UInt8]] = []
    repeat {
        try sub.receive(into: &frames)
    } while frames.count < 2 || frames[1] != syncHeader
    state.subscribed.store(true, ordering: .releasing)

    var received = 0
    var start = ContinuousClock.now
    while received < messages {
        switch mode {
        case .reusing: try sub.receive(into: &frames)
        case .allocating: frames = try sub.receive()
        }
        if frames[1] == syncHeader { continue }
        if received == 0 { start = .now }
        received += 1
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(messages - 1) / seconds
}

/// Runs the workload through the wrapper; returns messages per second.
func swiftRate(messages: Int, mode: ReceiveMode) throws(ZMQError) -> Double {
    let context = try Context()
    defer { context.terminate() }
    let pub = try Socket(context, .pub)
    defer { pub.close() }
    try pub.set(.sendHighWaterMark, 0)
    try pub.bind("tcp://127.0.0.1:*")
    let endpoint = try pub.lastEndpoint

    let state = SubscriberState()
    let thread = Thread {
        let result = Result { () throws(ZMQError) in
            try subscribe(context, endpoint, messages: messages, mode: mode, state: state)
        }
        state.result.withLock { $0 = result }
        state.done.signal()
    }
    thread.start()

    let sync: [[UInt8]] = [topic, syncHeader, []]
    while !state.subscribed.load(ordering: .acquiring) {
        try pub.send(sync)
        usleep(1000)
        if state.result.withLock({ $0 }) != nil { break }
    }
    let message: [[UInt8]] = [topic, header, body]
    if state.result.withLock({ $0 }) == nil {
        for _ in 0..<messages {
            try pub.send(message)
        }
    }
    state.done.wait()
    return try state.result.withLock { $0! }.get()
}

// MARK: - The C baseline

/// Compiles the C baseline with `cc`; returns the executable's path.
func compileC() throws -> String {
    let source = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("c/pubsub_throughput.c").path
    let output = FileManager.default.temporaryDirectory
        .appendingPathComponent("zmqbench-pubsub-\(getpid())").path
    let status = try run("/usr/bin/env", ["cc", "-O2", "-o", output, source, "-lzmq", "-lpthread"]).status
    guard status == 0 else { throw BenchError("cc failed on \(source)") }
    return output
}

func cRate(_ executable: String, messages: Int) throws -> Double {
    let (status, output) = try run(executable, [String(messages)])
    guard status == 0,
          let line = output.split(separator: "\n").first(where: { $0.hasPrefix("messages_per_second ") }),
          let rate = Double(line.split(separator: " ")[1])
    else { throw BenchError("C baseline failed: \(output)") }
    return rate
}

func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Main

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func format(_ rate: Double) -> String {
    String(format: "%10.0f msg/s", rate)
}

let arguments = CommandLine.arguments
let messages = arguments.count > 1 ? Int(arguments[1]) ?? 500_000 : 500_000
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 7 : 7

do {
    let executable = try compileC()
    defer { try? FileManager.default.removeItem(atPath: executable) }
    print("ZMQBench: PUB/SUB over tcp loopback, \(messages) messages of 3 frames (20+60+40 bytes), \(rounds) rounds")
    var cRates: [Double] = []
    var swiftRates: [ReceiveMode: [Double]] = [:]
    for round in 1...rounds {
        let c = try cRate(executable, messages: messages)
        cRates.append(c)
        var line = "  round \(round): C \(format(c))"
        for mode in ReceiveMode.allCases {
            let rate = try swiftRate(messages: messages, mode: mode)
            swiftRates[mode, default: []].append(rate)
            line += "   Swift \(mode.rawValue) \(format(rate))"
        }
        print(line)
    }
    // The median is the headline; the best round is the one least
    // disturbed by other load.
    for (label, summary) in [("median", median), ("best", { $0.max()! })] as [(String, ([Double]) -> Double)] {
        let baseline = summary(cRates)
        print("\(label.padding(toLength: 6, withPad: " ", startingAt: 0)) C (libzmq direct)          \(format(baseline))")
        for mode in ReceiveMode.allCases {
            let rate = summary(swiftRates[mode]!)
            let ratio = String(format: "%.1f%%", rate / baseline * 100)
            let name = mode.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)
            print("\(label.padding(toLength: 6, withPad: " ", startingAt: 0)) Swift \(name)  \(format(rate))   \(ratio) of C")
        }
    }
} catch {
    print("ZMQBench failed: \(error)")
    exit(1)
}
