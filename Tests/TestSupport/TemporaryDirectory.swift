import Foundation

/// Runs `body` with a fresh directory that is removed afterwards, even when
/// `body` throws.
public func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    var template = Array((NSTemporaryDirectory() + "/policystore-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else {
        throw CocoaError(.fileWriteUnknown)
    }
    let path = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

public func readBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

public func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// A random seed for a property test, or `TEST_SEED` from the environment to
/// replay a failure. The caller prints it.
public func propertyTestSeed() -> UInt64 {
    if let text = ProcessInfo.processInfo.environment["TEST_SEED"], let seed = UInt64(text) { return seed }
    return UInt64.random(in: 0...UInt64.max)
}
