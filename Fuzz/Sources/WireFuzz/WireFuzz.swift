import PolicyBus

/// One fuzzer input, as one frame off the wire (the callback given to
/// libFuzzer's driver): a control request, a control reply and a data message.
///
/// Errors are fine; a crash, a hang or a broken invariant is a finding. The
/// invariants: JSON the decoder accepts is written back as JSON that decodes
/// to the same value, and a data message re-encodes to one that decodes the same.
func wireFuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    exercise(bytes)
    return 0
}

private func exercise(_ frame: [UInt8]) {
    _ = try? ControlRequest(frame: frame)
    _ = ControlRequest.bestEffortID(frame)
    _ = try? ControlReply.parse(frame)
    if let json = try? JSON.parse(frame) {
        var writer = JSONWriter()
        writer.json(json)
        guard let again = try? JSON.parse(writer.bytes), again == json else {
            fatalError("JSON does not survive a write and a parse: \(String(decoding: writer.bytes, as: UTF8.self).debugDescription)")
        }
    }
    if let message = try? DataMessage(decoding: frame) {
        guard let again = try? DataMessage(decoding: message.encoded()), again == message else {
            fatalError("a data message does not survive encoding: \(String(decoding: message.encoded(), as: UTF8.self).debugDescription)")
        }
    }
}
