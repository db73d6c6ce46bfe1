#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging
import Synchronization

/// How a log line is written.
public enum LogFormat: String, CaseIterable, Sendable {
    /// `2026-12-04T18:07:30.123Z notice policybus.serve: message key=value ...`
    case text
    /// One JSON object per line: `timestamp`, `level`, `label`, `message`, `metadata`.
    case json
}

/// A swift-log handler that writes one line per message to standard error,
/// with an RFC 3339 timestamp in UTC to the millisecond. Only the executable
/// installs it (`LoggingSystem.bootstrap`); libraries just log.
public struct LogLineHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    public let label: String
    public let format: LogFormat
    /// Where lines go; standard error unless a test captures them.
    let write: @Sendable (String) -> Void

    public init(label: String, format: LogFormat, level: Logger.Level, write: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.write = write ?? LogLineHandler.standardError
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        emit(level: event.level, message: event.message.description, metadata: merged)
    }

    /// Writes one line whatever ``logLevel`` is: for the startup line, which
    /// scripts and tests wait for.
    public func emit(level: Logger.Level, message: String, metadata: Logger.Metadata = [:]) {
        write(line(level: level, message: message, metadata: metadata, time: Self.now()))
    }

    /// The line for one message, with its line end.
    func line(level: Logger.Level, message: String, metadata: Logger.Metadata, time: timespec) -> String {
        let timestamp = Self.rfc3339(time)
        switch format {
        case .text:
            let fields = metadata.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            return "\(timestamp) \(level) \(label): \(message)\(fields)\n"
        case .json:
            let object = JSONLine(
                timestamp: timestamp, level: level.rawValue, label: label, message: message,
                metadata: metadata.mapValues(JSONLine.Value.init))
            let bytes = (try? Self.encoder.encode(object)) ?? Data("{}".utf8)
            return String(decoding: bytes, as: UTF8.self) + "\n"
        }
    }

    // MARK: - Formatting

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func now() -> timespec {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return time
    }

    /// `2026-12-04T18:07:30.123Z`.
    static func rfc3339(_ time: timespec) -> String {
        var seconds = time.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
            + ".\(pad(Int32(time.tv_nsec / 1_000_000), 3))Z"
    }

    /// Lines from several threads never interleave: each is one `write(2)`
    /// under a lock.
    static let lock = Mutex(())

    @Sendable static func standardError(_ line: String) {
        lock.withLock { _ in
            let bytes = Array(line.utf8)
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { systemWrite(2, $0.baseAddress! + written, $0.count - written) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return }
                written += count
            }
        }
    }
}

/// `write(2)`, named apart from the handler's `write` property.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, buffer, count)
    #else
    Darwin.write(fd, buffer, count)
    #endif
}

/// One JSON log line.
struct JSONLine: Encodable {
    var timestamp: String
    var level: String
    var label: String
    var message: String
    var metadata: [String: Value]

    /// A metadata value: a string, or an array or object of them.
    enum Value: Encodable {
        case string(String)
        case array([Value])
        case object([String: Value])

        init(_ value: Logger.Metadata.Value) {
            switch value {
            case .string(let text): self = .string(text)
            case .stringConvertible(let item): self = .string(item.description)
            case .array(let items): self = .array(items.map(Value.init))
            case .dictionary(let members): self = .object(members.mapValues(Value.init))
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let text): try container.encode(text)
            case .array(let items): try container.encode(items)
            case .object(let members): try container.encode(members)
            }
        }
    }
}
