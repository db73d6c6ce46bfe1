import Foundation

extension BusProcess {
    /// Whether stderr contains `text`, waiting up to `timeout` seconds for it:
    /// a process's output is drained asynchronously, so it can arrive after
    /// the process has exited.
    func stderrContains(_ text: String, timeout: Double = 60) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !stderrText.contains(text) {
            guard Date() < deadline else { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}
