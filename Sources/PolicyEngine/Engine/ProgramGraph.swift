/// The rules arranged for maintenance: strata (strongly connected components of
/// the table dependency graph) in dependency order, and the rules that read each table.
///
/// The components are the front end's (`Stratifier`): the engine does not
/// stratify on its own.
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

    /// Builds the graph from the front end's components of these rules' tables.
    /// Tables in no component have no rules and read nothing: each is a stratum of its own.
    init(tables: [TableState], rules: [CompiledRule], components: [Stratifier.Component]) {
        for rule in rules {
            rulesByHead[ObjectIdentifier(rule.head), default: []].append(rule)
            for (index, literal) in rule.literals.enumerated() {
                if let table = literal.table { uses[ObjectIdentifier(table), default: []].append((rule, index)) }
            }
        }
        var byID: [TableID: TableState] = [:]
        for table in tables { byID[table.id] = table }
        var unplaced = byID
        var ordered: [(tables: [TableState], recursive: Bool)] = []
        for component in components {
            let members = component.tables.compactMap { unplaced.removeValue(forKey: $0) }
            if !members.isEmpty { ordered.append((members, component.recursive)) }
        }
        let alone = unplaced.values.sorted { $0.id < $1.id }.map { (tables: [$0], recursive: false) }
        for (members, recursive) in alone + ordered { append(members, recursive: recursive) }
    }

    private mutating func append(_ members: [TableState], recursive: Bool) {
        let keys = Set(members.map(ObjectIdentifier.init))
        var inputs: [TableState] = []
        var seenInputs = Set<ObjectIdentifier>()
        for table in members {
            for rule in rulesByHead[ObjectIdentifier(table)] ?? [] {
                for literal in rule.literals {
                    guard let body = literal.table, !keys.contains(ObjectIdentifier(body)) else { continue }
                    if seenInputs.insert(ObjectIdentifier(body)).inserted { inputs.append(body) }
                }
            }
        }
        for table in members { stratumOf[ObjectIdentifier(table)] = strata.count }
        strata.append(Stratum(tables: members, recursive: recursive, inputs: inputs))
    }
}
