import PolicyEngine
import ZeroMQ

/// A `subscribe` whose snapshots are still being sorted (`SnapshotCaptures`):
/// it is subscribed already, and its reply goes once they are whole.
struct WaitingReply {
    let envelope: [[UInt8]]
    let id: JSON?
    let command: ControlCommand
    let client: ClientIdentity
    let body: ControlReply.Subscribed
    /// The capture each of its large tables waits for.
    let capturing: [TableID: String]
}

extension Node {
    /// Does one step of the snapshot or query sort whose turn it is (the
    /// loop runs these between requests, within its budget, as
    /// `serveQueued` says), and answers the requests it finished.
    /// - Returns: whether a step was done.
    func stepCaptures() -> Bool {
        guard captures.isBuilding || hasQuerySortWork else { return false }
        // Captures and query sorts take turns.
        querySortsNext.toggle()
        if !captures.isBuilding || (querySortsNext && hasQuerySortWork) {
            stepQuerySort()
        } else if captures.step() != nil {
            answerWaitingReplies()
        }
        return true
    }

    /// Sends the replies whose captures are all whole.
    func answerWaitingReplies() {
        var still: [WaitingReply] = []
        for waiting in waitingReplies {
            guard waiting.capturing.values.allSatisfy(captures.isDone) else {
                still.append(waiting)
                continue
            }
            let body = completed(waiting.body, capturing: waiting.capturing)
            send(encoded(body, id: waiting.id, command: waiting.command, client: waiting.client), to: waiting.envelope)
        }
        waitingReplies = still
    }

    /// A subscribe reply with the snapshots of its captures filled in (any
    /// not whole yet finished at once): the rows when they fit in one chunk,
    /// else the capture to read in chunks.
    func completed(_ body: ControlReply.Subscribed, capturing: [TableID: String]) -> ControlReply.Subscribed {
        var body = body
        let now = monotonicNanoseconds()
        for (table, id) in capturing {
            captures.finish(id)
            body.snapshots[table]?.contents = captures.contents(of: id, now: now)
        }
        return body
    }
}

/// A table being sorted for the `query` requests waiting on it: a table
/// larger than one step of sorting, sorted since it last changed by no
/// request yet, is sorted a step at a time by the loop, as captures are.
///
/// A query waits for a sort that starts after it was served (so the sort
/// sees every change served before it, its client's own included): the
/// queries served while a table's sort runs wait for the next one, which
/// starts when it ends. One sort per table at a time, and however fast the
/// table changes, every query is answered after at most two.
struct QuerySort {
    /// What a behaviour asks to sort before it answers.
    struct Needed {
        let table: TableID
        /// The table's version the rows are at (the behaviour's own kind).
        let version: AnyHashable
        let source: RowSource
    }

    /// A `query` waiting for its table's rows sorted.
    struct Waiting {
        let envelope: [[UInt8]]
        let id: JSON?
        let command: ControlCommand
        let client: ClientIdentity
    }

    let version: AnyHashable
    var sorting: SlicedSort
    /// The queries this sort answers.
    var waiting: [Waiting]
    /// The queries served after it started: the next sort's.
    var next: [Waiting] = []
}

extension Node {
    /// Holds a `query` that needs its table sorted first.
    /// - Returns: whether it was held (its reply comes later).
    func holdForSort(_ command: ControlCommand, id: JSON?, client: ClientIdentity, envelope: [[UInt8]]) -> Bool {
        guard case .query = command, let needed = behavior.sortFirst(for: command) else { return false }
        wait(QuerySort.Waiting(envelope: envelope, id: id, command: command, client: client), for: needed, joiningTheRunningSort: false)
        return true
    }

    /// Makes a query wait for its table's next sort, which starts now if
    /// none runs; or for the running one, when that started after the query was served.
    func wait(_ query: QuerySort.Waiting, for needed: QuerySort.Needed, joiningTheRunningSort: Bool) {
        if querySorts[needed.table] == nil {
            querySorts[needed.table] = QuerySort(version: needed.version, sorting: SlicedSort(needed.source), waiting: [query])
            sortTurns.append(needed.table)
            scheduleServing()
        } else if joiningTheRunningSort {
            querySorts[needed.table]!.waiting.append(query)
        } else {
            querySorts[needed.table]!.next.append(query)
        }
    }

    /// Whether query sorts have steps or answers left.
    var hasQuerySortWork: Bool { !sortTurns.isEmpty || !sortedQueries.isEmpty }

    /// Answers one query whose table is sorted (each as long as a request),
    /// or does one step of the query sort whose turn it is.
    func stepQuerySort() {
        if !sortedQueries.isEmpty {
            answer(sortedQueries.removeFirst())
            return
        }
        guard !sortTurns.isEmpty else { return }
        let table = sortTurns.removeFirst()
        querySorts[table]!.sorting.step()
        guard querySorts[table]!.sorting.isDone else {
            sortTurns.append(table)
            return
        }
        let sort = querySorts.removeValue(forKey: table)!
        let sorted = (rows: sort.sorting.rows, version: sort.version)
        sortedQueries += sort.waiting.map { ($0, sorted) }
        // The next sort's queries, all served before now: answered from
        // these rows if still the table's (the behaviour kept them), else
        // they start the next sort.
        for query in sort.next {
            if let needed = behavior.sortFirst(for: query.command) {
                wait(query, for: needed, joiningTheRunningSort: true)
            } else {
                sortedQueries.append((query, nil))
            }
        }
    }

    /// Answers a query from its sorted rows, or as any request when it has none.
    func answer(_ sorted: (query: QuerySort.Waiting, rows: (rows: [Row], version: AnyHashable)?)) {
        let query = sorted.query
        guard let (rows, version) = sorted.rows else {
            if let reply = reply(to: query.command, id: query.id, client: query.client, envelope: query.envelope) { send(reply, to: query.envelope) }
            return
        }
        do {
            send(encoded(try behavior.answer(query.command, sorted: rows, version: version), id: query.id, command: query.command, client: query.client), to: query.envelope)
        } catch {
            send(refuse(op: query.command.op, id: query.id, error, client: query.client), to: query.envelope)
        }
    }
}
