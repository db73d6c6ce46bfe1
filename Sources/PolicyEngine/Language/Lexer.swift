/// A token of policy text.
struct Token: Sendable {
    enum Kind: Hashable, Sendable {
        /// An identifier; `-` appears only in a service name right before `:`.
        case identifier(String)
        /// The digits of a number literal as written, without a sign.
        case number(String, isFloat: Bool)
        case string(String)
        case leftParen, rightParen, comma, colon, turnstile, dot, semicolon, bang
        case less, lessOrEqual, greater, greaterOrEqual, equal, notEqual
        case plus, minus, star, slash
        case end
    }

    var kind: Kind
    var line: Int
    var column: Int
}

extension Token.Kind {
    /// How the token reads in an error message.
    var display: String {
        switch self {
        case .identifier(let name): "'\(name)'"
        case .number(let digits, _): "'\(digits)'"
        case .string(let value): Value.string(value).description
        case .leftParen: "'('"
        case .rightParen: "')'"
        case .comma: "','"
        case .colon: "':'"
        case .turnstile: "':-'"
        case .dot: "'.'"
        case .semicolon: "';'"
        case .bang: "'!'"
        case .less: "'<'"
        case .lessOrEqual: "'<='"
        case .greater: "'>'"
        case .greaterOrEqual: "'>='"
        case .equal: "'='"
        case .notEqual: "'!='"
        case .plus: "'+'"
        case .minus: "'-'"
        case .star: "'*'"
        case .slash: "'/'"
        case .end: "the end of the text"
        }
    }

    var comparison: ComparisonOperator? {
        switch self {
        case .less: .less
        case .lessOrEqual: .lessOrEqual
        case .greater: .greater
        case .greaterOrEqual: .greaterOrEqual
        case .equal: .equal
        case .notEqual: .notEqual
        default: nil
        }
    }
}

/// Splits policy text into tokens. Lines and columns count Unicode scalars from 1.
struct Lexer {
    private let scalars: [Unicode.Scalar]
    private let policy: String
    private var index = 0
    private var line = 1
    private var column = 1

    init(_ text: String, policy: String) {
        self.scalars = Array(text.unicodeScalars)
        self.policy = policy
    }

    /// All the tokens, ending with `.end`.
    static func tokens(_ text: String, policy: String) throws(PolicyError) -> [Token] {
        var lexer = Lexer(text, policy: policy)
        var tokens: [Token] = []
        while true {
            let token = try lexer.next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    private mutating func advance() {
        if scalars[index] == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    private func error(_ message: String, line: Int, column: Int) -> PolicyError {
        PolicyError(.syntaxError, message, at: SourceLocation(policy: policy, line: line, column: column))
    }

    private mutating func skipSpaceAndComments() {
        while let scalar = peek() {
            if scalar.properties.isWhitespace {
                advance()
            } else if scalar == "#" || (scalar == "/" && peek(1) == "/") {
                while let next = peek(), next != "\n" { advance() }
            } else {
                return
            }
        }
    }

    mutating func next() throws(PolicyError) -> Token {
        skipSpaceAndComments()
        let startLine = line
        let startColumn = column
        func token(_ kind: Token.Kind) -> Token { Token(kind: kind, line: startLine, column: startColumn) }
        guard let scalar = peek() else { return token(.end) }

        if Lexer.isIdentifierStart(scalar) { return token(.identifier(identifier())) }
        if Lexer.isDigit(scalar) { return token(number()) }
        if scalar == "\"" { return token(.string(try string())) }

        let single: [Unicode.Scalar: Token.Kind] = [
            "(": .leftParen, ")": .rightParen, ",": .comma, ".": .dot, ";": .semicolon,
            "+": .plus, "-": .minus, "*": .star, "/": .slash, "=": .equal,
        ]
        let pairs: [(String, Token.Kind)] = [
            (":-", .turnstile), ("<=", .lessOrEqual), (">=", .greaterOrEqual), ("!=", .notEqual),
            (":", .colon), ("<", .less), (">", .greater), ("!", .bang),
        ]
        for (spelling, kind) in pairs where matches(spelling) {
            for _ in spelling.unicodeScalars { advance() }
            return token(kind)
        }
        if let kind = single[scalar] {
            advance()
            return token(kind)
        }
        throw error("unexpected character '\(scalar)'", line: startLine, column: startColumn)
    }

    private func matches(_ spelling: String) -> Bool {
        for (offset, scalar) in spelling.unicodeScalars.enumerated() where peek(offset) != scalar {
            return false
        }
        return true
    }

    // MARK: - Identifiers and numbers

    static func isIdentifierStart(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_"
    }

    static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    static func isIdentifierPart(_ scalar: Unicode.Scalar) -> Bool {
        isIdentifierStart(scalar) || isDigit(scalar)
    }

    /// Letters, digits and `_`, with inner dots (`a.b`; a trailing dot ends the
    /// statement). A service name may also hold `-` (`neutron-v2:ports`), but
    /// only when a `:` follows, so `x-1` stays a subtraction.
    private mutating func identifier() -> String {
        if let length = serviceNameLength() {
            var name = ""
            for _ in 0..<length {
                name.unicodeScalars.append(scalars[index])
                advance()
            }
            return name
        }
        var name = ""
        while let scalar = peek() {
            let isInnerDot = scalar == "." && peek(1).map(Lexer.isIdentifierPart) == true
            guard Lexer.isIdentifierPart(scalar) || isInnerDot else { break }
            name.unicodeScalars.append(scalar)
            advance()
        }
        return name
    }

    private func serviceNameLength() -> Int? {
        var length = 0
        var sawDash = false
        while let scalar = peek(length), Lexer.isIdentifierPart(scalar) || scalar == "-" || scalar == "." {
            sawDash = sawDash || scalar == "-"
            length += 1
        }
        guard sawDash, peek(length) == ":", peek(length + 1) != "-",
            let last = peek(length - 1), Lexer.isIdentifierPart(last)
        else { return nil }
        return length
    }

    private mutating func number() -> Token.Kind {
        var digits = ""
        var isFloat = false
        func takeDigits() {
            while let scalar = peek(), Lexer.isDigit(scalar) {
                digits.unicodeScalars.append(scalar)
                advance()
            }
        }
        takeDigits()
        if peek() == ".", let next = peek(1), Lexer.isDigit(next) {
            isFloat = true
            digits += "."
            advance()
            takeDigits()
        }
        if peek() == "e" || peek() == "E" {
            let signed = peek(1) == "+" || peek(1) == "-"
            if let next = peek(signed ? 2 : 1), Lexer.isDigit(next) {
                isFloat = true
                digits += "e"
                advance()
                if signed {
                    digits.unicodeScalars.append(scalars[index])
                    advance()
                }
                takeDigits()
            }
        }
        return .number(digits, isFloat: isFloat)
    }

    // MARK: - Strings

    private mutating func string() throws(PolicyError) -> String {
        let startLine = line
        let startColumn = column
        advance()  // the opening quote
        var value = ""
        while true {
            guard let scalar = peek(), scalar != "\n" else {
                throw error("unterminated string: add the closing '\"'", line: startLine, column: startColumn)
            }
            advance()
            if scalar == "\"" { return value }
            if scalar != "\\" {
                value.unicodeScalars.append(scalar)
                continue
            }
            value.unicodeScalars.append(try escape())
        }
    }

    /// The character after a backslash (already consumed).
    private mutating func escape() throws(PolicyError) -> Unicode.Scalar {
        let escapeLine = line
        let escapeColumn = column - 1
        let bad = error(
            #"unknown escape: use \", \\, \n, \t, \r or \uXXXX (four hex digits)"#,
            line: escapeLine, column: escapeColumn)
        guard let scalar = peek() else { throw bad }
        let simple: [Unicode.Scalar: Unicode.Scalar] = ["\"": "\"", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "/": "/"]
        if let replacement = simple[scalar] {
            advance()
            return replacement
        }
        guard scalar == "u" else { throw bad }
        advance()
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = peek(), let value = UInt32(String(digit), radix: 16) else { throw bad }
            code = code * 16 + value
            advance()
        }
        guard let result = Unicode.Scalar(code) else {
            throw error("\\u\(String(code, radix: 16)) is not a Unicode scalar value", line: escapeLine, column: escapeColumn)
        }
        return result
    }
}
