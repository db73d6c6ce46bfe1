import PolicyEngine

extension ControlRequest {
    /// A request frame read a part at a time: its members one by one, its
    /// `rows` a row and a `simulate`'s `changes` a change at a time, so that
    /// a node reads a large frame in steps between other work
    /// (`Node+QueuedChanges.swift`). The rows go straight into rows and the
    /// changes into their fields, with no tree of JSON values; a member
    /// given twice keeps its last value, as in a tree.
    struct Reading {
        private var parser: JSONParser
        private(set) var state = State.start
        /// What was read so far: the whole request once `step` returns true.
        /// nil when the frame's JSON is not an object.
        private(set) var object: ReadObject? = ReadObject()

        enum State {
            case start
            /// At a member's name.
            case member
            case rows(JSONParser.RowsRead)
            case changes([ReadChange], isDone: Bool)
            /// After the value: the object's end, then the frame's.
            case end
            case done
        }

        init(frame: [UInt8], limits: BusLimits) {
            parser = JSONParser(bytes: frame)
            // No array of a request is longer than its rows may be.
            parser.maxArrayCount = limits.maxRowsPerRequest
        }

        /// Reads about `limit` more members, rows or changes.
        /// - Returns: whether the frame is read whole.
        /// - Throws: `bad-json`, `too-many-rows` (an array over the limit).
        mutating func step(upTo limit: Int) throws(BusError) -> Bool {
            do {
                var budget = limit
                while budget > 0 {
                    switch state {
                    case .done: return true
                    case .start: try start()
                    case .member: try member()
                    case .rows(var read):
                        state = .start  // not left holding a second copy of the rows
                        let before = read.rows.count
                        try parser.readRows(&read, upTo: budget)
                        budget -= max(1, read.rows.count - before)
                        if read.isDone {
                            object!.rows = ReadRows(rows: read.rows, problem: read.problem)
                            object!.members["rows"] = nil
                            try next()
                        } else {
                            state = .rows(read)
                        }
                        continue
                    case .changes(var changes, let isDone):
                        state = .start
                        let before = changes.count
                        let more = try readChanges(&changes, isDone: isDone, upTo: budget)
                        budget -= max(1, changes.count - before)
                        if more {
                            state = .changes(changes, isDone: false)
                        } else {
                            object!.changes = changes
                            object!.members["changes"] = nil
                            try next()
                        }
                        continue
                    case .end:
                        try parser.expectEnd()
                        state = .done
                    }
                    budget -= 1
                }
                if case .done = state { return true }
                return false
            } catch {
                guard let limit = error.elementLimit else { throw BusError(error) }
                throw BusError(.tooManyRows, "an array of more than \(limit) elements: a request holds at most \(limit) rows, and no longer array")
            }
        }

        /// The id as far as it was read: a refusal of the frame echoes it.
        var id: JSON? { object?.members["id"] }

        private mutating func start() throws(JSONError) {
            guard try parser.peek() == UInt8(ascii: "{") else {
                _ = try parser.parseValue()
                object = nil
                state = .end
                return
            }
            // Room for a request's few members from the start (as `JSONParser.parseObject`).
            object!.members.reserveCapacity(6)
            state = try parser.open(UInt8(ascii: "{"), closing: UInt8(ascii: "}")) ? .end : .member
        }

        private mutating func member() throws(JSONError) {
            let key = try parser.parseMemberName()
            if key == "rows", let read = try parser.startRows() {
                state = .rows(read)
            } else if key == "changes", try parser.peek() == UInt8(ascii: "[") {
                state = .changes([], isDone: try parser.open(UInt8(ascii: "["), closing: UInt8(ascii: "]")))
            } else {
                object!.members[key] = try parser.parseValue()
                if key == "rows" { object!.rows = nil }
                if key == "changes" { object!.changes = nil }
                try next()
            }
        }

        /// After a member's value: the next member, or the object's end.
        private mutating func next() throws(JSONError) {
            state = try parser.next(closing: UInt8(ascii: "}")) ? .member : .end
        }

        /// Reads up to `limit` more changes of the array `member` opened.
        /// - Returns: whether more are left.
        private mutating func readChanges(_ changes: inout [ReadChange], isDone: Bool, upTo limit: Int) throws(JSONError) -> Bool {
            var isDone = isDone
            var taken = 0
            while !isDone, taken < limit {
                try parser.checkArrayCount(changes.count)
                if try parser.peek() == UInt8(ascii: "{") {
                    changes.append(.object(try ControlRequest.readChange(&parser)))
                } else {
                    _ = try parser.parseValue()
                    changes.append(.other)
                }
                taken += 1
                isDone = try !parser.next(closing: UInt8(ascii: "]"))
            }
            return !isDone
        }
    }
}
