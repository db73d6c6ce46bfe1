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

extension JSONParser {
    /// Consumes `literal` if the input continues with it.
    mutating func skip(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { return false }
        index += count
        return true
    }

    /// A string starting right here, or nil.
    mutating func canonicalString() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        return try? parseString()
    }

    /// A number starting right here, or nil.
    mutating func canonicalNumber() -> JSON? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "-") || isDigit(bytes[index]) else { return nil }
        return try? parseNumber()
    }

    /// `[[v,...],...]` of ints, floats and strings, without whitespace, or nil.
    mutating func canonicalRows() -> [Row]? {
        guard skip("[") else { return nil }
        var rows: [Row] = []
        if skip("]") { return rows }
        repeat {
            guard let row = canonicalRow() else { return nil }
            rows.append(row)
        } while skip(",")
        return skip("]") ? rows : nil
    }

    mutating func canonicalRow() -> Row? {
        guard skip("[") else { return nil }
        var row: Row = []
        if skip("]") { return row }
        repeat {
            if let text = canonicalString() {
                row.append(.string(text))
            } else {
                switch canonicalNumber() {
                case .int(let number)?: row.append(.int(number))
                case .float(let number)?: row.append(.float(number))
                default: return nil
                }
            }
        } while skip(",")
        return skip("]") ? row : nil
    }
}
