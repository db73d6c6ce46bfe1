/// Damage found, and repaired, when a log was opened.
///
/// Returned by ``DurableLog/replay()`` next to the good records. A warning
/// never means that a record before ``offset`` was lost.
public struct LogWarning: Hashable, Sendable {
    /// What kind of damage.
    public enum Kind: String, Hashable, Sendable {
        /// The last record was cut short or fails its checksum, and nothing but
        /// zeros follows it: the usual trace of a crash during an append (a
        /// file system may leave the blocks it had allocated zero-filled). Its append never returned, so nobody was
        /// told it was durable. It was truncated away.
        case tornTail = "torn-tail"
        /// A record followed by more data fails its checksum or cannot be
        /// decoded. The records before it were kept; it and everything after it
        /// were moved to ``savedTo`` and cut from the log.
        case corruptRecord = "corrupt-record"
    }

    public var kind: Kind
    /// The byte offset in the log file where the bad record starts.
    public var offset: Int
    /// How many bytes were cut from the log.
    public var bytesRemoved: Int
    /// Where the removed bytes were saved, for ``Kind/corruptRecord``.
    public var savedTo: String?
    /// A sentence for the operator.
    public var message: String
}

extension LogWarning: CustomStringConvertible {
    public var description: String { "warning[\(kind.rawValue)] at offset \(offset): \(message)" }
}
