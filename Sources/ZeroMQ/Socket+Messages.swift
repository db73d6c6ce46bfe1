internal import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Sending

extension Socket {
    /// Sends a multipart message, blocking while the socket cannot accept it.
    ///
    /// - Parameter frames: the message's frames, at least one; any may be empty.
    /// - Throws: `ZMQError`; `EAGAIN` if SNDTIMEO expired, `EHOSTUNREACH` for a
    ///   ROUTER with ROUTER_MANDATORY and an unknown peer, `ETERM` on shutdown.
    public func send(_ frames: [[UInt8]]) throws(ZMQError) {
        _ = try send(frames, dontWait: false)
    }

    /// Sends a multipart message if the socket can accept it now.
    ///
    /// - Parameter frames: the message's frames, at least one.
    /// - Returns: false if the socket would block (`EAGAIN`); nothing was sent then.
    /// - Throws: `ZMQError` for any other failure.
    public func trySend(_ frames: [[UInt8]]) throws(ZMQError) -> Bool {
        try send(frames, dontWait: true)
    }

    /// Sends one frame straight from memory, without building an array.
    ///
    /// Use it to send a message frame by frame: pass `more: true` for every
    /// frame but the last. libzmq copies the bytes before returning.
    /// - Parameters:
    ///   - bytes: the frame's contents.
    ///   - more: whether more frames of the same message follow.
    ///   - dontWait: fail with `EAGAIN` instead of blocking.
    /// - Returns: false if `dontWait` is set and the socket would block.
    /// - Throws: `ZMQError` for any other failure.
    @discardableResult
    public func sendFrame(
        _ bytes: UnsafeRawBufferPointer, more: Bool, dontWait: Bool = false
    ) throws(ZMQError) -> Bool {
        let handle = try liveHandle("zmq_send")
        var flags: Int32 = more ? ZMQ_SNDMORE : 0
        if dontWait { flags |= ZMQ_DONTWAIT }
        return try outcome(sendFrame(handle, bytes, flags: flags), flags: flags, operation: "zmq_send")
    }

    /// Sends one frame of a message; pass `more: true` for every frame but the last.
    /// - Returns: false if `dontWait` is set and the socket would block.
    /// - Throws: `ZMQError` for any other failure.
    @discardableResult
    public func sendFrame(_ bytes: [UInt8], more: Bool, dontWait: Bool = false) throws(ZMQError) -> Bool {
        let handle = try liveHandle("zmq_send")
        var flags: Int32 = more ? ZMQ_SNDMORE : 0
        if dontWait { flags |= ZMQ_DONTWAIT }
        let code = bytes.withUnsafeBytes { sendFrame(handle, $0, flags: flags) }
        return try outcome(code, flags: flags, operation: "zmq_send")
    }

    func send(_ frames: [[UInt8]], dontWait: Bool) throws(ZMQError) -> Bool {
        let handle = try liveHandle("zmq_send")
        guard !frames.isEmpty else {
            throw ZMQError(code: EINVAL, operation: "zmq_send(no frames)")
        }
        let base: Int32 = dontWait ? ZMQ_DONTWAIT : 0
        let last = frames.count - 1
        for index in 0...last {
            let flags = index < last ? base | ZMQ_SNDMORE : base
            let code = frames[index].withUnsafeBytes { sendFrame(handle, $0, flags: flags) }
            if try !outcome(code, flags: flags, operation: "zmq_send") {
                // libzmq admits or refuses a message at its first frame, so
                // a refusal later would leave half a message queued.
                guard index == 0 else {
                    throw ZMQError(code: EAGAIN, operation: "zmq_send(frame \(index))")
                }
                return false
            }
        }
        return true
    }

    /// Sends one frame, retrying `EINTR`.
    /// - Returns: 0 on success, else the errno.
    @inline(__always)
    private func sendFrame(
        _ handle: UnsafeMutableRawPointer, _ buffer: UnsafeRawBufferPointer, flags: Int32
    ) -> Int32 {
        while true {
            if zmq_send(handle, buffer.baseAddress, buffer.count, flags) >= 0 { return 0 }
            let code = zmq_errno()
            if code != EINTR { return code }
        }
    }

    /// Turns a send's errno into the API's answer: false for `EAGAIN` only
    /// when `ZMQ_DONTWAIT` is set; a blocking send that times out (SNDTIMEO)
    /// throws `EAGAIN`.
    @inline(__always)
    private func outcome(_ code: Int32, flags: Int32, operation: StaticString) throws(ZMQError) -> Bool {
        if code == 0 { return true }
        if code == EAGAIN && flags & ZMQ_DONTWAIT != 0 { return false }
        throw ZMQError(code: code, operation: "\(operation)")
    }
}

// MARK: - Receiving

extension Socket {
    /// Receives a whole multipart message, blocking until one arrives.
    ///
    /// Frames of any size, including empty ones, are received whole.
    /// - Returns: the frames, at least one.
    /// - Throws: `ZMQError`; `EAGAIN` if RCVTIMEO expired, `ETERM` on shutdown.
    public func receive() throws(ZMQError) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        frames.reserveCapacity(4)
        _ = try receive(into: &frames, dontWait: false)
        return frames
    }

    /// Receives a whole multipart message if one is waiting.
    /// - Returns: the frames, or nil if none is waiting (`EAGAIN`).
    /// - Throws: `ZMQError` for any other failure.
    public func tryReceive() throws(ZMQError) -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        frames.reserveCapacity(4)
        return try receive(into: &frames, dontWait: true) ? frames : nil
    }

    /// Receives a message into `frames`, reusing its arrays' storage: the
    /// path for hot loops. It allocates nothing when the frames have the
    /// same sizes as last time, as a stream of similar messages does.
    ///
    /// On return `frames` holds exactly the message's frames.
    /// - Parameters:
    ///   - frames: reused storage; its old contents are replaced.
    ///   - dontWait: return false instead of blocking when no message is waiting.
    /// - Returns: false if `dontWait` is set and no message was waiting;
    ///   `frames` is unchanged then.
    /// - Throws: `ZMQError`; `EAGAIN` if a blocking receive timed out.
    @discardableResult
    public func receive(into frames: inout [[UInt8]], dontWait: Bool = false) throws(ZMQError) -> Bool {
        var ignored: String?
        return try receive(into: &frames, dontWait: dontWait, property: nil, value: &ignored)
    }

    /// Receives a whole multipart message, blocking until one arrives, and
    /// reads a metadata property of its last frame (`zmq_msg_gets`).
    ///
    /// - Parameter property: e.g. ``MessageProperty/userID``, which a ZAP
    ///   handler sets for every message of a connection it admitted.
    /// - Returns: the frames, and the property's value; nil if the
    ///   connection does not have it (no ZAP handler, for a user id).
    /// - Throws: `ZMQError`; `EAGAIN` if RCVTIMEO expired, `ETERM` on shutdown.
    public func receive(reading property: MessageProperty) throws(ZMQError) -> (frames: [[UInt8]], value: String?) {
        var frames: [[UInt8]] = []
        var value: String?
        _ = try receive(into: &frames, dontWait: false, property: property.name, value: &value)
        return (frames, value)
    }

    /// Receives a whole multipart message if one is waiting, and reads a
    /// metadata property of its last frame (`zmq_msg_gets`).
    ///
    /// - Parameter property: e.g. ``MessageProperty/userID``.
    /// - Returns: the frames and the property's value (nil if the connection
    ///   does not have it), or nil if no message is waiting (`EAGAIN`).
    /// - Throws: `ZMQError` for any other failure.
    public func tryReceive(reading property: MessageProperty) throws(ZMQError) -> (frames: [[UInt8]], value: String?)? {
        var frames: [[UInt8]] = []
        var value: String?
        guard try receive(into: &frames, dontWait: true, property: property.name, value: &value) else { return nil }
        return (frames, value)
    }

    /// The one receive loop. `property`, when given, is read from the last
    /// frame before it is closed; the plain receive paths pass nil, and
    /// inlining removes the check for them.
    @inline(__always)
    private func receive(
        into frames: inout [[UInt8]], dontWait: Bool, property: String?, value: inout String?
    ) throws(ZMQError) -> Bool {
        let handle = try liveHandle("zmq_msg_recv")
        var count = 0
        var more = true
        while more {
            // The rest of a multipart message arrives with its first frame,
            // so only the first frame can ever find nothing waiting.
            let flags: Int32 = count == 0 && dontWait ? ZMQ_DONTWAIT : 0
            guard try receiveFrame(handle, flags: flags) else { return false }
            let bytes = UnsafeRawBufferPointer(start: zmq_msg_data(message), count: zmq_msg_size(message))
            if count < frames.count {
                Self.copy(bytes, into: &frames[count])
            } else {
                frames.append(Self.array(bytes))
            }
            more = zmq_msg_more(message) != 0
            if !more, let property {
                // libzmq attaches a connection's metadata to each of its messages.
                value = zmq_msg_gets(message, property).map { String(cString: $0) }
            }
            zmq_msg_close(message)
            count += 1
        }
        if frames.count > count {
            frames.removeLast(frames.count - count)
        }
        return true
    }

    /// A new array holding `bytes`, filled with one `memcpy`.
    @inline(__always)
    static func array(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, initialized in
            if !bytes.isEmpty {
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
            }
            initialized = bytes.count
        }
    }

    /// Replaces `frame`'s contents with `bytes`, in place when the sizes match
    /// (the steady state of a stream of similar messages).
    @inline(__always)
    static func copy(_ bytes: UnsafeRawBufferPointer, into frame: inout [UInt8]) {
        if frame.count == bytes.count {
            frame.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
        } else {
            frame = array(bytes)
        }
    }

    /// Receives one frame into `message`. Returns false on `EAGAIN` with
    /// `ZMQ_DONTWAIT`; the message is closed whenever this does not return true.
    @inline(__always)
    private func receiveFrame(_ handle: UnsafeMutableRawPointer, flags: Int32) throws(ZMQError) -> Bool {
        zmq_msg_init(message)
        while true {
            if zmq_msg_recv(message, handle, flags) >= 0 { return true }
            let code = zmq_errno()
            if code == EINTR { continue }
            zmq_msg_close(message)
            if code == EAGAIN && flags & ZMQ_DONTWAIT != 0 { return false }
            throw ZMQError(code: code, operation: "zmq_msg_recv")
        }
    }
}
