import PolicyEngine

// MARK: - Decoding the encoder's own layout

extension DataMessage {
    /// Decodes a body laid out exactly as `encoded()` writes it (keys in that
    /// order, no whitespace) without building a JSON tree: every subscriber,
    /// engines included, decodes one of these per delta.
    ///
    /// - Returns: nil for anything else (another key order, whitespace, an
    ///   unexpected value, malformed input); the caller then decodes it with
    ///   the general parser, which accepts or rejects it with its usual error.
    ///   So this only ever shortens the work, never changes the outcome.
    static func decodeCanonical(_ frame: [UInt8], bodyStart: Int, table: TableID) -> DataMessage? {
        var parser = JSONParser(bytes: frame)
        parser.index = bodyStart
        let isDelta: Bool
        if parser.skip("{\"type\":\"delta\",\"pub\":") {
            isDelta = true
        } else if parser.skip("{\"type\":\"hb\",\"pub\":") {
            isDelta = false
        } else {
            return nil
        }
        guard let publisher = parser.canonicalString(), parser.skip(",\"epoch\":"),
            let epoch = parser.canonicalString(), parser.skip(",\"seq\":"),
            case .int(let seq)? = parser.canonicalNumber(), seq >= 0
        else { return nil }
        guard isDelta else {
            guard parser.skip("}"), parser.index == frame.count else { return nil }
            return .heartbeat(Heartbeat(table: table, publisher: publisher, epoch: epoch, seq: UInt64(seq)))
        }
        guard parser.skip(",\"added\":"), let added = parser.canonicalRows(),
            parser.skip(",\"removed\":"), let removed = parser.canonicalRows(),
            parser.skip("}"), parser.index == frame.count
        else { return nil }
        return .delta(Delta(table: table, publisher: publisher, epoch: epoch, seq: UInt64(seq), added: added, removed: removed))
    }
}
