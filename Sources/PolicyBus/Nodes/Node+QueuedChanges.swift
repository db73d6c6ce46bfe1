import PolicyEngine

/// Changes a behaviour applies a step at a time (a data source's large
/// `facts`: `DataSourceBehavior.queueChange`, `FactsTransaction`): one
/// step a turn, every other turn while requests wait. The change's reply
/// goes after its last step, and its
/// connection's later requests wait for that reply, so that the client
/// sees its change in what it asks next. Other connections are served in
/// between, against the rows as they were before the change.
extension Node {
    /// Queues `command` with the behaviour if it applies it a step at a
    /// time, and holds its connection's later requests until it is done.
    /// - Returns: whether it was queued (its reply comes later).
    func queueChange(_ command: ControlCommand, id: JSON?, client: ClientIdentity, envelope: [[UInt8]]) -> Bool {
        let peer = envelope[0]
        let queued = behavior.queueChange(command) { [unowned self] result in
            requestQueue.release(peer)
            switch result {
            case .success(let body): send(encoded(body, id: id, command: command, client: client), to: envelope)
            case .failure(let error): send(refuse(op: command.op, id: id, error, client: client), to: envelope)
            }
        }
        guard queued else { return false }
        requestQueue.hold(peer)
        scheduleServing()
        return true
    }

    /// One step of the oldest queued change, as a turn of its own: while
    /// other work waits, turns alternate between a step and that work, so
    /// that requests are served between the steps however long the
    /// request that queued the change took (the turn's estimate,
    /// `workNanoseconds`); every turn while the change's rows are staged in
    /// the publisher (`changeHoldsRequests`), which no request may read half done.
    /// - Returns: whether a step was done.
    func stepQueuedChange(since start: UInt64) -> Bool {
        let otherWork = requestQueue.hasServable || captures.isBuilding || hasQuerySortWork
        guard behavior.hasChangeSteps, behavior.changeHoldsRequests || !(changeStepLast && otherWork) else {
            changeStepLast = false
            return false
        }
        behavior.stepChange()
        _ = workDone(since: start)
        changeStepLast = true
        return true
    }
}
