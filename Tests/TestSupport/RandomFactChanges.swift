extension SeededRandom {
    /// `count` random changes to a two-column table of small integers, as
    /// `policybus publish` reads them from stdin (`+q(3, 7)`, `-q(3, 7)`),
    /// kept in `present`: the model of what the data source then holds. A
    /// change removes a present row half the time it picks one, else adds it.
    /// - Parameters:
    ///   - table: the table's name at the data source.
    ///   - values: each column is drawn from `0..<values`.
    ///   - groups: also scatter `begin` and `commit` lines (one in twenty), so
    ///     that some changes apply together; a last `commit` closes any group.
    public mutating func factChanges(_ count: Int, table: String = "q", values: Int = 10, groups: Bool = false,
                                     present: inout Set<[Int]>) -> [String] {
        var lines: [String] = []
        for _ in 0..<count {
            let row = [Int(next() % UInt64(values)), Int(next() % UInt64(values))]
            if present.contains(row), next() % 2 == 0 {
                present.remove(row)
                lines.append("-\(table)(\(row[0]), \(row[1]))")
            } else {
                present.insert(row)
                lines.append("+\(table)(\(row[0]), \(row[1]))")
            }
            if groups, next() % 20 == 0 { lines.append(next() % 2 == 0 ? "begin" : "commit") }
        }
        if groups { lines.append("commit") }
        return lines
    }
}
