/// Pause points for the node's own work on one large request (a
/// `simulate`'s changes turned into commands and into a transaction): every
/// `every` items it calls the engine's pause hook (`Engine.pause`, the
/// node's `pauseLongWork`), which serves the loop's duties once half a loop
/// budget has passed, as the engine's own pauses do. Without a hook (a
/// request read outside a node, a data source) it does nothing.
///
/// The hook's false (the node is stopping) is not acted on here: the engine
/// work that follows stops at its first pause.
struct PausePoints {
    let hook: (() -> Bool)?
    /// Items between two calls: well under a millisecond of work, so that the hook's clock read decides.
    var every = 1024
    private var left = 1024

    init(_ hook: (() -> Bool)?, every: Int = 1024) {
        self.hook = hook
        self.every = every
        left = every
    }

    /// Counts one item, and calls the hook every `every`.
    @inline(__always)
    mutating func tick() {
        guard let hook else { return }
        left -= 1
        guard left <= 0 else { return }
        left = every
        _ = hook()
    }
}
