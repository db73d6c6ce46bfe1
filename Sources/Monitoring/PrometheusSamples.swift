/// The samples of a Prometheus text-format exposition, keyed by the series as
/// written (`name{label="value",...}`), for reading a scrape back: the tests
/// of every node use it. Comment lines are skipped; a line that is not
/// `SERIES VALUE` is ignored.
public struct PrometheusSamples: Sendable {
    public private(set) var values: [String: Double] = [:]

    public init(parsing text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
    }

    /// The value of `name` with exactly `labels`, in any order; nil if absent.
    public subscript(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        values.first { series, _ in Self.matches(series, name: name, labels: labels) }?.value
    }

    /// The sum over every series of `name` whose labels include `labels`.
    public func sum(_ name: String, where labels: [String: String] = [:]) -> Double {
        values.filter { series, _ in Self.matches(series, name: name, labels: labels, exact: false) }.values.reduce(0, +)
    }

    static func matches(_ series: String, name: String, labels: [String: String], exact: Bool = true) -> Bool {
        let brace = series.firstIndex(of: "{") ?? series.endIndex
        guard series[..<brace] == name else { return false }
        var found: [String: String] = [:]
        if brace < series.endIndex {
            // label="value" pairs; the values here never hold commas or quotes.
            for pair in series[series.index(after: brace)...].dropLast().split(separator: ",") {
                guard let equals = pair.firstIndex(of: "=") else { continue }
                found[String(pair[..<equals])] = String(pair[pair.index(after: equals)...].dropFirst().dropLast())
            }
        }
        return exact ? found == labels : labels.allSatisfy { found[$0.key] == $0.value }
    }
}
