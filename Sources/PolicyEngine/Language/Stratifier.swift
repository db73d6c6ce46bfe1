/// Orders tables into strata so that negation never goes through recursion.
///
/// The one stratifier: the checker runs it on the rules it lowers, and the
/// engine builds its maintenance order from its result. The tables of one
/// strongly connected component of the dependency graph (a recursive cycle)
/// share a stratum; a negative edge inside a component is an
/// `unstratified-negation` error.
struct Stratifier {
    /// A strongly connected component of the dependency graph.
    struct Component: Sendable {
        var tables: [TableID]
        /// A table in it depends on itself, directly or through the others.
        var recursive: Bool
    }

    struct Result: Sendable {
        /// Every table's component, each after the components it depends on.
        var components: [Component] = []
        /// The stratum of every table (see `CheckedProgram.strata`).
        var strata: [TableID: Int] = [:]
        /// One `unstratified-negation` per negated literal inside a cycle, in location order.
        var errors: [PolicyError] = []
    }

    private var nodes: [TableID] = []
    private var index: [TableID: Int] = [:]
    /// Edges from a table a rule reads to the rule's head.
    private var edges: [[(target: Int, negated: Bool, location: SourceLocation)]] = []

    /// The checker's graph: located uses, so an error points at the `not`.
    init(tables: [TableID], dependencies: [(head: TableID, uses: [TableUse])]) {
        for table in tables.sorted() { node(table) }
        for (head, uses) in dependencies {
            let target = node(head)
            for use in uses {
                edges[node(use.table)].append((target, use.negated, use.negationLocation ?? use.location))
            }
        }
    }

    /// The engine's graph, from lowered rules (which may not have come through
    /// the checker): an error points at the rule.
    init(tables: [TableID], rules: [CheckedRule]) {
        for table in tables.sorted() { node(table) }
        for rule in rules {
            let target = node(rule.head)
            for literal in rule.body {
                switch literal {
                case .positive(let table, _): edges[node(table)].append((target, false, rule.location))
                case .negative(let table, _): edges[node(table)].append((target, true, rule.location))
                case .function, .comparison: continue
                }
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

    /// The components in dependency order, the strata, and every cycle through negation.
    func stratify() -> Result {
        // Tarjan's algorithm emits dependents first; walk the components dependencies first.
        let components = Array(stronglyConnectedComponents().reversed())
        var component = [Int](repeating: 0, count: nodes.count)
        for (number, members) in components.enumerated() {
            for member in members { component[member] = number }
        }
        var result = Result()
        var recursive = components.map { $0.count > 1 }
        var stratum = [Int](repeating: 0, count: components.count)
        for (number, members) in components.enumerated() {
            for member in members {
                for edge in edges[member] {
                    let target = component[edge.target]
                    guard target != number else {
                        recursive[number] = true
                        if edge.negated { result.errors.append(cycleError(from: member, edge.target, at: edge.location)) }
                        continue
                    }
                    stratum[target] = max(stratum[target], stratum[number] + (edge.negated ? 1 : 0))
                }
            }
        }
        result.errors.sort(by: PolicyError.isEarlier)
        for (number, members) in components.enumerated() {
            result.components.append(Component(tables: members.map { nodes[$0] }, recursive: recursive[number]))
            for member in members { result.strata[nodes[member]] = stratum[number] }
        }
        return result
    }

    private func cycleError(from source: Int, _ target: Int, at location: SourceLocation) -> PolicyError {
        PolicyError(
            .unstratifiedNegation,
            "\(nodes[target]) depends negatively on \(nodes[source]), which depends on \(nodes[target]) in turn; break the cycle through 'not'",
            at: location)
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
