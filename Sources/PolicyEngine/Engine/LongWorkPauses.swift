/// The engine's side of long work's pauses (`Engine.pause`): where work
/// grows with the data (the executor's joins, a transaction's rows, a
/// roll-back), the engine calls its owner's hook every so often, so that
/// the owner (a node's poll loop) can send heartbeats and read its sockets
/// while one transaction runs for seconds. The hook must not touch the
/// engine; it only gets the chance to serve what waits outside it.
///
/// One per engine, shared with its executor.
final class LongWorkPauses {
    /// The owner's hook; false asks the engine to stop: the transaction
    /// under way is rolled back (`too-expensive`, "stopped").
    var hook: (() -> Bool)?
    /// Set once the hook asked to stop, until the next transaction begins.
    private(set) var stopRequested = false
    /// Rows of bulk work (stored, interned, undone) between two calls of the
    /// hook: well under a millisecond, so the hook's own clock read decides
    /// (tests pause after every few rows).
    var rowsPerPause = 1024
    private var rowsUntilPause = 1024

    /// A new transaction (or explain) begins: an earlier stop is forgotten.
    func begin() {
        stopRequested = false
        rowsUntilPause = rowsPerPause
    }

    /// Counts one row of bulk work, and calls the hook every `rowsPerPause`.
    @inline(__always)
    func row() {
        guard hook != nil else { return }
        rowsUntilPause -= 1
        if rowsUntilPause <= 0 { _ = pause() }
    }

    /// Calls the hook now. - Returns: false once the owner asked to stop.
    func pause() -> Bool {
        rowsUntilPause = rowsPerPause
        guard let hook else { return true }
        if !stopRequested && !hook() { stopRequested = true }
        return !stopRequested
    }
}
