/// The rules arranged for maintenance: strata (strongly connected components of
/// the table dependency graph) in dependency order, and the rules that read each table.
struct ProgramGraph {
    struct Stratum {
        var tables: [TableState]
        /// A table in it depends on itself: maintained by proof search rather than counting.
        var recursive: Bool
        /// Tables outside the stratum that its rules read.
        var inputs: [TableState]
    }

    var strata: [Stratum] = []
    var rulesByHead: [ObjectIdentifier: [CompiledRule]] = [:]
    /// For each table, the (rule, literal index) pairs that read it.
    var uses: [ObjectIdentifier: [(rule: CompiledRule, literal: Int)]] = [:]
    var stratumOf: [ObjectIdentifier: Int] = [:]

    init() {}

    /// Builds the graph. Throws `unstratified-negation` for a cycle through negation.
    init(tables: [TableState], rules: [CompiledRule]) throws(PolicyError) {
        for rule in rules {
            rulesByHead[ObjectIdentifier(rule.head), default: []].append(rule)
            for (index, literal) in rule.literals.enumerated() {
                if let table = literal.table { uses[ObjectIdentifier(table), default: []].append((rule, index)) }
            }
        }
        let components = ProgramGraph.components(tables: tables, rulesByHead: rulesByHead)
        for component in components {
            let members = Set(component.map(ObjectIdentifier.init))
            var recursive = component.count > 1
            var inputs: [TableState] = []
            var seenInputs = Set<ObjectIdentifier>()
            for table in component {
                for rule in rulesByHead[ObjectIdentifier(table)] ?? [] {
                    for literal in rule.literals {
                        guard let body = literal.table else { continue }
                        if members.contains(ObjectIdentifier(body)) {
                            recursive = true
                            if literal.isNegative {
                                throw PolicyError(
                                    .unstratifiedNegation,
                                    "rule '\(rule.rule.text)' negates \(body.id), which depends on \(rule.head.id) itself; negation through recursion cannot be evaluated, so break the cycle",
                                    at: rule.rule.location)
                            }
                        } else if seenInputs.insert(ObjectIdentifier(body)).inserted {
                            inputs.append(body)
                        }
                    }
                }
            }
            for table in component { stratumOf[ObjectIdentifier(table)] = strata.count }
            strata.append(Stratum(tables: component, recursive: recursive, inputs: inputs))
        }
    }

    /// Tarjan's algorithm over head -> body edges: it emits components whose
    /// dependencies come first. Iterative, so deep programs cannot overflow the stack.
    private static func components(tables: [TableState], rulesByHead: [ObjectIdentifier: [CompiledRule]]) -> [[TableState]] {
        var index: [ObjectIdentifier: Int] = [:]
        var lowLink: [ObjectIdentifier: Int] = [:]
        var onStack = Set<ObjectIdentifier>()
        var stack: [TableState] = []
        var result: [[TableState]] = []
        var counter = 0

        func successors(_ table: TableState) -> [TableState] {
            (rulesByHead[ObjectIdentifier(table)] ?? []).flatMap { $0.literals.compactMap(\.table) }
        }

        for root in tables where index[ObjectIdentifier(root)] == nil {
            var work: [(table: TableState, next: [TableState], position: Int)] = []
            func visit(_ table: TableState) {
                let key = ObjectIdentifier(table)
                index[key] = counter
                lowLink[key] = counter
                counter += 1
                stack.append(table)
                onStack.insert(key)
                work.append((table, successors(table), 0))
            }
            visit(root)
            while let top = work.last {
                let key = ObjectIdentifier(top.table)
                if top.position < top.next.count {
                    work[work.count - 1].position += 1
                    let child = top.next[top.position]
                    let childKey = ObjectIdentifier(child)
                    if index[childKey] == nil {
                        visit(child)
                    } else if onStack.contains(childKey) {
                        lowLink[key] = min(lowLink[key]!, index[childKey]!)
                    }
                    continue
                }
                work.removeLast()
                if let parent = work.last {
                    let parentKey = ObjectIdentifier(parent.table)
                    lowLink[parentKey] = min(lowLink[parentKey]!, lowLink[key]!)
                }
                if lowLink[key] == index[key] {
                    var component: [TableState] = []
                    while let member = stack.popLast() {
                        onStack.remove(ObjectIdentifier(member))
                        component.append(member)
                        if member === top.table { break }
                    }
                    result.append(component)
                }
            }
        }
        return result
    }
}
