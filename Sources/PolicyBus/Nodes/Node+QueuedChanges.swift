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

    /// A frame this large is read a step at a time: smaller ones take a
    /// few milliseconds at most to read whole.
    static let readInStepsBytes = 256 << 10

    /// Whether a large frame or a queued change has steps left.
    var hasLongSteps: Bool { !readingRequests.isEmpty || behavior.hasChangeSteps }

    /// Starts reading a large request frame a step at a time; its
    /// connection's later requests wait until it is answered.
    func readInSteps(_ frame: [UInt8], peer: [UInt8], key: String?, envelope: [[UInt8]]) {
        readingRequests.append(ReadingRequest(reading: .init(frame: frame, limits: options.limits), peer: peer, key: key, envelope: envelope))
        requestQueue.hold(peer)
        scheduleServing()
    }

    /// One step of the oldest queued change, or of the oldest large frame
    /// being read, as a turn of its own: while other work waits, turns
    /// alternate between a step and that work, so that requests are served
    /// between the steps however long the request before took (the
    /// turn's estimate, `workNanoseconds`); every turn while the change's
    /// rows are staged in the publisher (`changeHoldsRequests`), which no
    /// request may read half done (no frame read is answered then).
    /// - Returns: whether a step was done.
    func stepQueuedChange(since start: UInt64) -> Bool {
        let otherWork = requestQueue.hasServable || captures.isBuilding || hasQuerySortWork
        guard hasLongSteps, behavior.changeHoldsRequests || !(changeStepLast && otherWork) else {
            changeStepLast = false
            return false
        }
        if readingRequests.isEmpty || behavior.changeHoldsRequests {
            behavior.stepChange()
        } else {
            stepReading()
        }
        _ = workDone(since: start)
        changeStepLast = true
        return true
    }

    /// Reads a step of the oldest large frame; answers it once it is read
    /// whole, or refuses it at its first error (with its id, if read by then).
    func stepReading() {
        let read: ReadingRequest
        do {
            guard try readingRequests[0].reading.step(upTo: FactsTransaction.rowsPerStep) else { return }
            read = readingRequests.removeFirst()
        } catch {
            let failed = readingRequests.removeFirst()
            requestQueue.release(failed.peer)
            send(refuse(op: nil, id: failed.reading.id, error), to: failed.envelope)
            return
        }
        requestQueue.release(read.peer)
        let request: ControlRequest
        do {
            request = try ControlRequest(read.reading.object, limits: options.limits)
        } catch {
            send(refuse(op: nil, id: read.reading.id, error), to: read.envelope)
            return
        }
        // Its connection's hello or status read in a pause of its work waits for its reply.
        servingPeer = read.peer
        defer { servingPeer = nil }
        if let reply = answer(request, peer: read.peer, key: read.key, envelope: read.envelope) { send(reply, to: read.envelope) }
    }
}

/// A large request frame being read a step at a time (`ControlRequest.Reading`).
struct ReadingRequest {
    var reading: ControlRequest.Reading
    let peer: [UInt8]
    let key: String?
    let envelope: [[UInt8]]
}
