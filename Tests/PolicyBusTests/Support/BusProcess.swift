import Foundation
import PolicyBus
import PolicyEngine
import Synchronization
import Testing
import ZeroMQ

/// A running `policybus` process: its output drained concurrently, always
/// killed and reaped by `stop()` (and `deinit` as a safety net).
final class BusProcess: Sendable {
    /// The built binary: package root (from this file's path) + `.build/debug/policybus`.
    static let binary: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Support, PolicyBusTests, Tests, file
        return url.appendingPathComponent(".build/debug/policybus")
    }()

    let name: String
    // Process and FileHandle are thread-safe for what we use here (Foundation
    // documents Process as safe to signal from any thread); kept behind a Mutex anyway.
    private let state: Mutex<(process: Process?, stdin: FileHandle?)>
    private let output = Mutex<(stdout: [UInt8], stderr: [UInt8])>(([], []))
    /// Whether each pipe reached end of file: after the process exits, its
    /// last output may still be on its way through the drain threads.
    private let ended = Mutex<(stdout: Bool, stderr: Bool)>((false, false))

    /// Starts `policybus ARGS...`.
    init(_ name: String, _ arguments: [String]) throws {
        self.name = name
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        state = Mutex((process, stdin.fileHandleForWriting))
        try process.run()
        drain(stdout.fileHandleForReading, stderr: false)
        drain(stderr.fileHandleForReading, stderr: true)
    }

    /// Reads `handle` to end of file on a thread of its own. Not a
    /// `readabilityHandler`: that is a dispatch source, and releasing the
    /// process (so its pipes, which close their descriptors) while the source
    /// was still registered crashed the test process in libdispatch
    /// (`_dispatch_event_loop_drain`) on a loaded machine. Here the thread
    /// holds the handle, so its descriptor stays open until the last read.
    private func drain(_ handle: FileHandle, stderr: Bool) {
        _ = BlockingThread(name: "test-drain-\(name)") { [weak self] in
            let descriptor = handle.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                let bytes = buffer[..<count]
                self?.output.withLock { output in
                    if stderr { output.stderr += bytes } else { output.stdout += bytes }
                }
            }
            self?.ended.withLock { ended in
                if stderr { ended.stderr = true } else { ended.stdout = true }
            }
            withExtendedLifetime(handle) {}
        }
    }

    deinit { stop() }

    /// Sends SIGTERM, waits up to 3 s, then SIGKILL; reaps the process.
    func stop() {
        let process = state.withLock { state in
            defer { state = (nil, nil) }
            try? state.stdin?.close()
            return state.process
        }
        guard let process else { return }
        if process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(3)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Sends `number` (SIGKILL, SIGSTOP, SIGCONT...) to the process; reaps nothing.
    func signal(_ number: Int32) {
        state.withLock { state in
            if let process = state.process, process.isRunning { kill(process.processIdentifier, number) }
        }
    }

    /// A figure of the process's `/proc/PID/status` in bytes, such as
    /// `VmHWM` (its peak resident memory); nil once it has exited.
    func memory(_ field: String) -> Int? {
        guard let pid = state.withLock({ $0.process?.processIdentifier }),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kib = Int(line.dropFirst(field.count + 1).split(whereSeparator: \.isWhitespace).first ?? "")
        else { return nil }
        return kib * 1024
    }

    /// Sends SIGSTOP and blocks (call it off the pool) until every thread of
    /// the process is stopped, as /proc shows it: kill(2) returns before a
    /// busy thread on another CPU has stopped, and until then it may still
    /// answer. Gives up after 30 s.
    func suspend() {
        signal(SIGSTOP)
        guard let pid = state.withLock({ $0.process?.processIdentifier }) else { return }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !Self.allThreadsStopped(pid) { usleep(5_000) }
    }

    private static func allThreadsStopped(_ pid: Int32) -> Bool {
        let tasks = "/proc/\(pid)/task"
        guard let threads = try? FileManager.default.contentsOfDirectory(atPath: tasks) else { return false }
        return threads.allSatisfy { thread in
            // The state is the field after the parenthesised command name.
            guard let stat = try? String(contentsOfFile: "\(tasks)/\(thread)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return stat[close...].dropFirst(2).first == "T"
        }
    }

    /// Writes lines to the process's stdin.
    func write(_ lines: String...) {
        let data = Data(lines.map { $0 + "\n" }.joined().utf8)
        state.withLock { try? $0.stdin?.write(contentsOf: data) }
    }

    func closeStdin() {
        state.withLock { state in
            try? state.stdin?.close()
            state.stdin = nil
        }
    }

    var stdoutText: String { output.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
    var stderrText: String { output.withLock { String(decoding: $0.stderr, as: UTF8.self) } }

    /// Complete stdout lines so far.
    var stdoutLines: [String] {
        let text = stdoutText
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()  // the unfinished line (or "" after the last newline)
        return lines
    }

    var isRunning: Bool { state.withLock { $0.process?.isRunning ?? false } }

    var exitStatus: Int32? {
        state.withLock { state in
            guard let process = state.process, !process.isRunning else { return nil }
            return process.terminationStatus
        }
    }

    /// Waits (polling, off nothing: it sleeps the task) until `condition` holds.
    /// The condition is checked once more after the deadline: when the
    /// cooperative pool is busy with other suites, the task may wake only
    /// after it, while the condition held long before.
    func waitFor<T>(_ what: String, timeout: Double = 60, _ condition: (BusProcess) -> T?) async throws -> T {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let value = condition(self) { return value }
            guard Date() < deadline else { break }
            if let status = exitStatus {
                // Everything the process wrote is read before judging it.
                await waitForEndOfOutput()
                if let value = condition(self) { return value }
                Issue.record("\(name): exited (\(status)) while waiting for \(what)\nstdout:\n\(stdoutText)\nstderr:\n\(stderrText)")
                throw TimeoutError(what: what)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("\(name): timed out waiting for \(what)\nstdout:\n\(stdoutText)\nstderr:\n\(stderrText)")
        throw TimeoutError(what: what)
    }

    /// Waits (at most 10 s) until both pipes reached end of file, which they
    /// do soon after the process exits.
    func waitForEndOfOutput() async {
        let deadline = Date().addingTimeInterval(10)
        while !ended.withLock({ $0.stdout && $0.stderr }), Date() < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The endpoints from the `listening control=... data=...` line.
    func endpoints() async throws -> (control: String, data: String) {
        try await waitFor("the listening line") { process in
            guard let line = process.stderrText.split(separator: "\n").first(where: { $0.contains("listening control=") }) else { return nil }
            let fields = line.split(separator: " ")
            guard let control = fields.first(where: { $0.hasPrefix("control=") })?.dropFirst(8),
                let data = fields.first(where: { $0.hasPrefix("data=") })?.dropFirst(5)
            else { return nil }
            return (String(control), String(data))
        }
    }

    /// The `metrics=HOST:PORT` of the listening line (`--metrics`).
    func metricsAddress() async throws -> String {
        try await waitFor("the listening line's metrics=") { process in
            let line = process.stderrText.split(separator: "\n").first { $0.contains("listening control=") }
            return line?.split(separator: " ").first { $0.hasPrefix("metrics=") }.map { String($0.dropFirst(8)) }
        }
    }

    /// Waits for the `index`th stdout line (0-based) and parses it as JSON.
    func jsonLine(_ index: Int, timeout: Double = 60) async throws -> JSON {
        let line = try await waitFor("stdout line \(index)", timeout: timeout) { process in
            let lines = process.stdoutLines
            return lines.count > index ? lines[index] : nil
        }
        return try JSON.parse(line)
    }

    /// Waits for the process to exit and for its output to be read to the end.
    func exit(timeout: Double = 60) async throws -> Int32 {
        let status = try await waitFor("exit", timeout: timeout) { $0.exitStatus }
        await waitForEndOfOutput()
        return status
    }
}

struct TimeoutError: Error {
    var what: String
}

/// Runs blocking work on its own thread, never on the cooperative pool.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        _ = BlockingThread(name: "test-blocking") {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// A temporary file with `text`; removed by the caller's `defer`.
func temporaryFile(_ text: String, suffix: String = ".pol") throws -> String {
    let path = NSTemporaryDirectory() + "policybus-\(UUID().uuidString)\(suffix)"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Reconstructs a table's contents from `subscribe --json` lines.
func contents(from lines: [String], table: String) throws -> Set<[JSON]> {
    var rows: Set<[JSON]> = []
    for line in lines {
        let json = try JSON.parse(line)
        guard json["table"]?.stringValue == table else { continue }
        switch json["kind"]?.stringValue {
        case "snapshot":
            rows = Set((json["rows"]?.arrayValue ?? []).compactMap(\.arrayValue))
        case "delta":
            for row in json["removed"]?.arrayValue ?? [] { rows.remove(row.arrayValue ?? []) }
            for row in json["added"]?.arrayValue ?? [] { rows.insert(row.arrayValue ?? []) }
        default:
            continue
        }
    }
    return rows
}

/// The processes a test started; `withProcesses` stops them all, even when the test fails.
final class Processes: Sendable {
    private let list = Mutex<[BusProcess]>([])

    func start(_ name: String, _ arguments: [String]) throws -> BusProcess {
        let process = try BusProcess(name, arguments)
        list.withLock { $0.append(process) }
        return process
    }

    func stopAll() async {
        let all = list.withLock { $0 }
        _ = try? await offPool { for process in all { process.stop() } }
    }

    /// A data source: `publish --name NAME` on a loopback wildcard port.
    func dataSource(_ name: String, extra: [String] = []) async throws -> (BusProcess, String) {
        let process = try start(name, ["publish", "--name", name, "--control", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"] + extra)
        return (process, try await process.endpoints().control)
    }

    /// An engine: `serve --name NAME` with policies (name, text) and peers (service, endpoint).
    func engine(_ name: String, policies: [(String, String)], peers: [(String, String)], extra: [String] = []) async throws -> (BusProcess, String) {
        var arguments = ["serve", "--name", name, "--control", "tcp://127.0.0.1:*", "--heartbeat-ms", "200", "--lease-ms", "3000"]
        if !extra.contains("--data-dir") { arguments.append("--no-data-dir") }  // no state shared between test runs
        for (policy, text) in policies { arguments += ["--policy", "\(policy)=\(try temporaryFile(text))"] }
        for (service, endpoint) in peers { arguments += ["--peer", "\(service)=\(endpoint)"] }
        let process = try start(name, arguments + extra)
        return (process, try await process.endpoints().control)
    }

    /// `subscribe --json` to tables.
    func subscriber(_ endpoint: String, _ tables: [String], extra: [String] = []) throws -> BusProcess {
        try start("subscribe \(tables.joined(separator: " "))", ["subscribe", "--connect", endpoint, "--json"] + tables + extra)
    }
}

func withProcesses(_ body: (Processes) async throws -> Void) async throws {
    let processes = Processes()
    do {
        try await body(processes)
    } catch {
        await processes.stopAll()
        throw error
    }
    await processes.stopAll()
}

/// One control request, from a thread that may block.
///
/// The reply may take long: a node busy with megabytes of deltas on a loaded
/// 2-core machine answered after more than 5 s. A generous wait costs a
/// passing test nothing; a node that never answers still fails the test.
func request(
    _ endpoint: String, _ op: String, _ fields: [String: JSON] = [:], timeoutMilliseconds: Int = 30_000
) async throws -> JSON {
    try await offPool {
        let context = try ZeroMQ.Context()
        let client = try ControlClient(context: context, endpoint: endpoint, timeoutMilliseconds: timeoutMilliseconds)
        defer { client.close() }
        return try client.request(op, fields)
    }
}

/// Polls `condition` every `interval` until it returns a value, for at most
/// `timeout` seconds: for waiting on something observable (a query's rows, a
/// status field) rather than sleeping for a guessed time. A `not-ready`
/// refusal (an engine's table whose peer tables have not synced yet) counts
/// as not yet. Records an issue (with `what` and the last value seen) and
/// throws on timeout.
func eventually<T>(
    _ what: @autoclosure () -> String, timeout: Double = 60, interval: Duration = .milliseconds(50),
    _ condition: () async throws -> T?
) async throws -> T {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        do {
            if let value = try await condition() { return value }
        } catch let error as BusError where error.code == .notReady {}
        guard Date() < deadline else {
            Issue.record("timed out after \(timeout) s waiting for \(what())")
            throw TimeoutError(what: what())
        }
        try await Task.sleep(for: interval)
    }
}

/// The rows `query` returns, as a set: in pages when the table is larger
/// than one reply (`ControlClient.allRows`).
func queryRows(_ endpoint: String, _ query: String) async throws -> Set<[JSON]> {
    let rows = try await offPool {
        let context = try ZeroMQ.Context()
        let client = try ControlClient(context: context, endpoint: endpoint, timeoutMilliseconds: 30_000)
        defer { client.close() }
        return try client.allRows(query)
    }
    return Set(rows.compactMap(\.arrayValue))
}
