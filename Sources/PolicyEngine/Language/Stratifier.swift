/// Orders tables into strata so that negation never goes through recursion.
///
/// The tables of one strongly connected component of the dependency graph
/// (a recursive cycle) share a stratum; a negative edge inside a component is
/// an `unstratified-negation` error.
struct Stratifier {
    private var nodes: [TableID] = []
    private var index: [TableID: Int] = [:]
    /// Edges from a table a rule reads to the rule's head.
    private var edges: [[(target: Int, negated: Bool, location: SourceLocation)]] = []

    init(tables: [TableID], dependencies: [(head: TableID, uses: [TableUse])]) {
        for table in tables.sorted() { node(table) }
        for (head, uses) in dependencies {
            let target = node(head)
            for use in uses {
                edges[node(use.table)].append((target, use.negated, use.negationLocation ?? use.location))
            }
        }
    }

    @discardableResult
    private mutating func node(_ table: TableID) -> Int {
        if let existing = index[table] { return existing }
        nodes.append(table)
        edges.append([])
        index[table] = nodes.count - 1
        return nodes.count - 1
    }

    func strata() throws(PolicyError) -> [TableID: Int] {
        let components = stronglyConnectedComponents()
        var component = [Int](repeating: 0, count: nodes.count)
        for (number, members) in components.enumerated() {
            for member in members { component[member] = number }
        }
        var cycleErrors: [PolicyError] = []
        for source in nodes.indices {
            for edge in edges[source] where edge.negated && component[edge.target] == component[source] {
                cycleErrors.append(
                    PolicyError(
                        .unstratifiedNegation,
                        "\(nodes[edge.target]) depends negatively on \(nodes[source]), which depends on \(nodes[edge.target]) in turn; break the cycle through 'not'",
                        at: edge.location))
            }
        }
        if let first = cycleErrors.min(by: ProgramChecker.isEarlier) { throw first }

        // Components come out of Tarjan's algorithm dependents first; walk them dependencies first.
        var stratum = [Int](repeating: 0, count: components.count)
        for number in components.indices.reversed() {
            for member in components[number] {
                for edge in edges[member] where component[edge.target] != number {
                    let target = component[edge.target]
                    stratum[target] = max(stratum[target], stratum[number] + (edge.negated ? 1 : 0))
                }
            }
        }
        var result: [TableID: Int] = [:]
        for (position, table) in nodes.enumerated() { result[table] = stratum[component[position]] }
        return result
    }

    /// Tarjan's algorithm, iterative so that long chains of rules cannot overflow the stack.
    private func stronglyConnectedComponents() -> [[Int]] {
        var order = [Int](repeating: -1, count: nodes.count)
        var lowLink = [Int](repeating: 0, count: nodes.count)
        var onStack = [Bool](repeating: false, count: nodes.count)
        var stack: [Int] = []
        var components: [[Int]] = []
        var counter = 0
        for root in nodes.indices where order[root] < 0 {
            var work: [(node: Int, edge: Int)] = [(root, 0)]
            order[root] = counter
            lowLink[root] = counter
            counter += 1
            stack.append(root)
            onStack[root] = true
            while let (node, edge) = work.last {
                if edge < edges[node].count {
                    work[work.count - 1].edge += 1
                    let next = edges[node][edge].target
                    if order[next] < 0 {
                        order[next] = counter
                        lowLink[next] = counter
                        counter += 1
                        stack.append(next)
                        onStack[next] = true
                        work.append((next, 0))
                    } else if onStack[next] {
                        lowLink[node] = min(lowLink[node], order[next])
                    }
                    continue
                }
                work.removeLast()
                if let parent = work.last?.node { lowLink[parent] = min(lowLink[parent], lowLink[node]) }
                guard lowLink[node] == order[node] else { continue }
                var members: [Int] = []
                while let member = stack.popLast() {
                    onStack[member] = false
                    members.append(member)
                    if member == node { break }
                }
                components.append(members)
            }
        }
        return components
    }
}
