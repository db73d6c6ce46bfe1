import PolicyEngine
import ZeroMQ

/// A blocking request/reply client for a node's control socket (a DEALER).
///
/// For command-line tools and tests; not `Sendable`, and its calls block, so
/// use it on a thread that may block.
public final class ControlClient {
    public let endpoint: String
    /// Sent as `client` in every request.
    public let clientID: String
    /// How long `request` waits for a reply.
    public var timeoutMilliseconds: Int
    let socket: Socket
    let handshake: HandshakeWatch?
    var nextID: Int64 = 1

    /// Connects (in the background, as ZeroMQ does) to `endpoint`.
    /// - Throws: `transport` for a malformed endpoint.
    public init(
        context: Context, endpoint: String, clientID: String = randomClientID(), timeoutMilliseconds: Int = 5000,
        curve: CurveClientConfiguration? = nil
    ) throws(BusError) {
        self.endpoint = endpoint
        self.clientID = clientID
        self.timeoutMilliseconds = timeoutMilliseconds
        do {
            socket = try Socket(context, .dealer)
            try socket.set(.linger, 0)
            try curve?.apply(to: socket)
            handshake = try HandshakeWatch(socket, context: context, usesCurve: curve != nil)
            try socket.connect(endpoint)
        } catch {
            throw BusError(.transport, "cannot connect to \(endpoint): \(error)")
        }
    }

    deinit { close() }

    public func close() {
        socket.close()
        handshake?.close()
    }

    /// Sends `{"op": op, ...fields}` and waits for the matching reply.
    /// - Returns: the reply object (with `"ok": true`).
    /// - Throws: the node's error, `timeout`, `transport` or `bad-reply`.
    @discardableResult
    public func request(_ op: String, _ fields: [String: JSON] = [:]) throws(BusError) -> JSON {
        let id = nextID
        nextID += 1
        return try exchange(ControlRequest.frame(op: op, id: id, client: clientID, fields: fields), id: .int(id))
    }

    /// Sends a typed command and waits for the matching reply.
    /// - Returns: the reply object (with `"ok": true`).
    /// - Throws: the node's error, `timeout`, `transport` or `bad-reply`.
    @discardableResult
    public func request(_ command: ControlCommand) throws(BusError) -> JSON {
        try request(command.op, command.fields)
    }

    /// A timeout, with its cause as the handshake events show it.
    func timeoutError() -> BusError {
        let cause = handshake?.noAnswerCause() ?? HandshakeWatch.unreachable
        return BusError(.timeout, "no reply from \(endpoint) within \(timeoutMilliseconds) ms; \(cause)")
    }

    /// Sends one raw frame and waits for a reply whose `id` is `id`.
    public func requestRaw(_ frame: String, id: JSON?) throws(BusError) -> JSON {
        try exchange(Array(frame.utf8), id: id)
    }

    func exchange(_ frame: [UInt8], id: JSON?) throws(BusError) -> JSON {
        do {
            // A DEALER whose handshake keeps failing has no pipe to queue on,
            // and a blocking send would wait forever: bound it by the timeout.
            try socket.set(.sendTimeout, Int32(clamping: timeoutMilliseconds))
            try socket.send([frame])
        } catch let error where error.code == ZMQError.wouldBlock {
            throw timeoutError()
        } catch {
            throw BusError(.transport, "send failed: \(error)")
        }
        let deadline = monotonicNanoseconds() + .milliseconds(timeoutMilliseconds)
        var poller = Poller()
        poller.add(socket)
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { throw timeoutError() }
            do {
                try poller.poll(timeout: Int((deadline - now) / 1_000_000) + 1)
                while let frames = try socket.tryReceive() {
                    guard let last = frames.last else { continue }
                    if id != nil, (try? JSON.parse(last))?["id"] != id { continue }  // a late reply to an earlier request
                    return try ControlReply.parse(last)
                }
            } catch let error as ZMQError {
                throw BusError(.transport, "receive failed: \(error)")
            } catch let error as BusError {
                throw error
            } catch {
                throw BusError(.internal, "\(error)")
            }
        }
    }
}

extension ControlClient {
    /// Rows per page when a whole reply is too large for the node.
    public static let firstPageRows = 10_000

    /// Every row matching `query` from `offset`: one request, or, when the
    /// node refuses a reply that large (`reply-too-large`), pages of it,
    /// halved while a page is still too large. Rows that change meanwhile
    /// shift the pages (PROTOCOL.md section 4, `query`).
    public func allRows(_ query: String, from offset: Int = 0) throws(BusError) -> [JSON] {
        do {
            return try request(.query(query, ControlCommand.Page(offset: offset)))["rows"]?.arrayValue ?? []
        } catch let error where error.code == .replyTooLarge {
            // Read it in pages below.
        }
        var rows: [JSON] = []
        var position = offset
        var pageRows = Self.firstPageRows
        while true {
            do {
                let reply = try request(.query(query, ControlCommand.Page(offset: position, limit: pageRows)))
                let page = reply["rows"]?.arrayValue ?? []
                rows += page
                position += page.count
                if (reply["more"]?.intValue ?? 0) == 0 || page.isEmpty { return rows }
            } catch let error where error.code == .replyTooLarge && pageRows > 1 {
                pageRows /= 2
            }
        }
    }
}
