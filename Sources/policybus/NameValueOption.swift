import ArgumentParser

/// The `NAME=VALUE` form of the repeatable pairing options (`--policy`,
/// `--peer`, `--peer-server-key`, `eval --schema`): split at the first `=`.
enum NameValueOption {
    /// The name and the value, or nil when there is no `=` or the name is empty.
    /// The value may be empty, and may itself contain `=`.
    static func split(_ item: String) -> (name: String, value: String)? {
        guard let equals = item.firstIndex(of: "="), equals != item.startIndex else { return nil }
        return (String(item[..<equals]), String(item[item.index(after: equals)...]))
    }

    /// `split`, or a usage error naming `option`.
    static func parse(_ item: String, _ option: String) throws -> (name: String, value: String) {
        guard let pair = split(item) else { throw ValidationError("\(option) takes NAME=VALUE, got '\(item)'") }
        return pair
    }
}
