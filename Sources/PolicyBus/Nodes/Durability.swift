import PolicyStore

/// The engine's open data log and what its replay found.
struct Durability {
    let log: DurableLog
    let replayed: Int
    let skipped: Int
    let warnings: [String]
}
