/// Malformed JSON: what is wrong and where.
public struct JSONError: Error, Hashable, Sendable {
    /// What is wrong, with its position: `expected ':' at line 3, column 7`.
    public var message: String
    /// The 1-based line of the first byte that could not be read.
    public var line: Int
    /// The 1-based column, in bytes, of that byte within its line.
    public var column: Int
    /// The element limit an array passed, when that is what stopped the
    /// parse (`JSON.parse(_:maxArrayCount:)`); the JSON may be well formed.
    public var elementLimit: Int?

    /// The error at `offset` in `bytes`; the line and column are counted
    /// only here, when something failed, so reading pays nothing for them.
    init(_ reason: String, at offset: Int, in bytes: [UInt8]) {
        var line = 1
        var lineStart = 0
        for position in 0..<min(offset, bytes.count) where bytes[position] == 0x0A {
            line += 1
            lineStart = position + 1
        }
        self.line = line
        self.column = offset - lineStart + 1
        self.message = "\(reason) at line \(line), column \(column)"
    }
}

extension JSONError: CustomStringConvertible {
    public var description: String { message }
}
