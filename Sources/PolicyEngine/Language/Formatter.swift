/// `policybus fmt`: a policy's canonical text, with its comments kept.
///
/// Each statement is one line of canonical text (`RuleSyntax.text`, facts
/// likewise, no terminator). A rule longer than `maximumWidth`, or with a
/// comment inside it, is written with its head and `:-` on the first line and
/// one body literal per line, indented four spaces. Comments stay where they
/// were: a comment on its own line stays on its own line before the statement
/// (or literal) that followed it; a comment after code stays after the same
/// statement (or literal). One blank line is kept where the text had any.
/// Formatting formatted text changes nothing, and the result parses to the
/// same rules and facts, in the same order.
public enum PolicyFormatter {
    /// Rules wider than this are written one body literal per line.
    public static let maximumWidth = 80

    /// The canonical text of one policy.
    /// - Parameters:
    ///   - text: The policy's text.
    ///   - policy: The policy's name: its own tables are written unqualified.
    /// - Returns: The canonical text, ending with a newline unless it is empty.
    /// - Throws: `syntax-error` when the text does not parse.
    public static func format(_ text: String, policy: String) throws(PolicyError) -> String {
        let parsed = try PolicyParser.parse(text, policy: policy)
        let tokens = try Lexer.tokens(text, policy: policy)
        var layout = Layout(text: text, statements: statements(parsed, policy: policy, tokens: tokens))
        for comment in Comment.scan(text) { layout.place(comment) }
        return layout.render()
    }

    /// The statements in source order, each with its slots (head, then body literals).
    private static func statements(_ parsed: ParsedPolicy, policy: String, tokens: [Token]) -> [Statement] {
        var statements: [Statement] = parsed.rules.map { rule in
            if rule.body.isEmpty { return Statement(start: rule.location, slots: [Slot(text: rule.text, start: rule.location)]) }
            let head = Slot(text: rule.head.text(in: policy) + " :-", start: rule.location)
            return Statement(
                start: rule.location,
                slots: [head] + rule.body.map { Slot(text: $0.text(in: policy), start: $0.location) },
                oneLine: rule.text)
        }
        for fact in parsed.facts {
            let name = fact.table.name
            let text = fact.values.isEmpty ? name : name + "(" + fact.values.map(\.description).joined(separator: ", ") + ")"
            statements.append(Statement(start: fact.location, slots: [Slot(text: text, start: fact.location)]))
        }
        statements.sort { ($0.start.line, $0.start.column) < ($1.start.line, $1.start.column) }
        // A statement ends at the last token before the next statement (or the end).
        let starts = statements.map { statement in
            tokens.firstIndex { $0.line == statement.start.line && $0.column == statement.start.column } ?? 0
        }
        for index in statements.indices {
            let next = index + 1 < starts.count ? starts[index + 1] : tokens.count - 1
            statements[index].endLine = tokens[max(next - 1, starts[index])].line
        }
        return statements
    }
}

// MARK: - Layout

/// A comment as written, from `#` or `//` to the end of its line.
struct Comment {
    var line: Int
    var column: Int
    var text: String
    /// Nothing but whitespace before it on its line.
    var ownLine: Bool

    /// The comments of a text that lexes, found as the lexer finds them: outside strings.
    static func scan(_ text: String) -> [Comment] {
        var comments: [Comment] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let scalars = Array(line.unicodeScalars)
            var inString = false
            var position = 0
            while position < scalars.count {
                let scalar = scalars[position]
                if inString {
                    if scalar == "\\" { position += 1 } else if scalar == "\"" { inString = false }
                } else if scalar == "\"" {
                    inString = true
                } else if scalar == "#" || (scalar == "/" && position + 1 < scalars.count && scalars[position + 1] == "/") {
                    var comment = ""
                    comment.unicodeScalars.append(contentsOf: scalars[position...])
                    let ownLine = scalars[..<position].allSatisfy(\.properties.isWhitespace)
                    comments.append(Comment(line: index + 1, column: position + 1, text: trimmed(comment), ownLine: ownLine))
                    break
                }
                position += 1
            }
        }
        return comments
    }

    private static func trimmed(_ text: String) -> String {
        var scalars = Array(text.unicodeScalars)
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        var result = ""
        result.unicodeScalars.append(contentsOf: scalars)
        return result
    }
}

/// A head or a body literal, with the comments that belong to it.
struct Slot {
    var text: String
    var start: SourceLocation
    /// Own-line comments just before it.
    var leading: [String] = []
    /// A comment after it on its line.
    var trailing: [String] = []
}

struct Statement {
    var start: SourceLocation
    var slots: [Slot]
    /// The one-line text of a rule with a body; nil for facts and body-less rules.
    var oneLine: String?
    var endLine = 0
    /// Own-line comments inside the statement after its last literal.
    var after: [String] = []

    init(start: SourceLocation, slots: [Slot], oneLine: String? = nil) {
        self.start = start
        self.slots = slots
        self.oneLine = oneLine
    }

    func precedes(_ comment: Comment) -> Bool {
        (start.line, start.column) < (comment.line, comment.column)
    }

    mutating func attach(_ comment: Comment) {
        if comment.ownLine {
            if let index = slots.firstIndex(where: { $0.start.line > comment.line }) {
                slots[index].leading.append(comment.text)
            } else {
                after.append(comment.text)
            }
            return
        }
        let index = slots.lastIndex { ($0.start.line, $0.start.column) < (comment.line, comment.column) } ?? 0
        slots[index].trailing.append(comment.text)
    }

    func render() -> [String] {
        let last = slots.count - 1
        let interior = slots.indices.contains { !slots[$0].leading.isEmpty || ($0 < last && !slots[$0].trailing.isEmpty) }
        var lines: [String]
        if let oneLine, interior || oneLine.unicodeScalars.count > PolicyFormatter.maximumWidth {
            lines = [Self.withComments(slots[0].text, slots[0].trailing)]
            for index in 1...last {
                lines += slots[index].leading.map { "    " + $0 }
                let text = "    " + slots[index].text + (index < last ? "," : "")
                lines.append(Self.withComments(text, slots[index].trailing))
            }
        } else {
            lines = [Self.withComments(oneLine ?? slots[0].text, slots.flatMap(\.trailing))]
        }
        return lines + after
    }

    /// Several comments after one piece of code (from lines that are now one) join into one.
    private static func withComments(_ code: String, _ comments: [String]) -> String {
        comments.isEmpty ? code : code + "  " + comments.joined(separator: " ")
    }
}

/// The statements and top-level comments of a policy, in order.
struct Layout {
    private enum Item {
        case statement(Int)
        case comment(Comment)
    }

    private var statements: [Statement]
    private var items: [Item] = []
    private var blankLines: Set<Int> = []

    init(text: String, statements: [Statement]) {
        self.statements = statements
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where line.unicodeScalars.allSatisfy(\.properties.isWhitespace) {
            blankLines.insert(index + 1)
        }
    }

    /// Gives a comment to the statement it is inside, or makes it a top-level item.
    mutating func place(_ comment: Comment) {
        let owner = statements.lastIndex { $0.precedes(comment) && comment.line <= $0.endLine }
        if let owner { statements[owner].attach(comment) } else { items.append(.comment(comment)) }
    }

    func render() -> String {
        var all = items.map { item -> (line: Int, column: Int, item: Item) in
            guard case .comment(let comment) = item else { return (0, 0, item) }
            return (comment.line, comment.column, item)
        }
        all += statements.indices.map { (statements[$0].start.line, statements[$0].start.column, .statement($0)) }
        all.sort { ($0.line, $0.column) < ($1.line, $1.column) }
        var out: [String] = []
        var previousEnd: Int?
        for entry in all {
            let endLine: Int
            if let previousEnd, (previousEnd + 1..<max(entry.line, previousEnd + 1)).contains(where: blankLines.contains) {
                out.append("")
            }
            switch entry.item {
            case .comment(let comment):
                out.append(comment.text)
                endLine = comment.line
            case .statement(let index):
                out += statements[index].render()
                endLine = statements[index].endLine
            }
            previousEnd = endLine
        }
        return out.isEmpty ? "" : out.joined(separator: "\n") + "\n"
    }
}
