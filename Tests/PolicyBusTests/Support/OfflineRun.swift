import Foundation

/// What an offline `policybus` command printed and how it exited.
struct OfflineRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `policybus ARGS...` to its end (an offline command: check, fmt, test, eval).
func runPolicybus(_ arguments: [String]) async throws -> OfflineRun {
    let process = try BusProcess(arguments.first ?? "policybus", arguments)
    defer { process.stop() }
    let status = try await process.exit(timeout: 60)
    return OfflineRun(status: status, stdout: process.stdoutText, stderr: process.stderrText)
}

/// Writes each `(name, text)` into a fresh temporary directory; returns the directory.
func temporaryDirectory(_ files: [String: String]) throws -> String {
    let directory = NSTemporaryDirectory() + "policybus-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (name, text) in files {
        try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }
    return directory
}
