import PolicyBus
import PolicyEngine

/// One fuzzer input, as a frame off the wire: a control request, a data
/// message, and plain JSON.
///
/// Errors are fine; a crash, a hang or a broken invariant is a finding:
/// - JSON the node parsed is written back as JSON that parses to the same value
///   (replies echo the request's `id`);
/// - the error reply to any frame is valid JSON;
/// - a data message that decodes re-encodes to a frame that decodes to it again.
func wireFuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let frame = Array(UnsafeBufferPointer(start: data, count: size))
    checkJSON(frame)
    checkControlRequest(frame)
    checkDataMessage(frame)
    return 0
}

/// Was set while the parser turned `1e999` into an infinite float that the
/// writer cannot write as a JSON number. Fixed: the parser now rejects
/// non-finite numbers (`bad-json`), and the inputs are in `Tests/Corpus/wire/`.
private let skipNonFinite = false

private func hasNonFinite(_ json: JSON) -> Bool {
    switch json {
    case .float(let value): return !value.isFinite
    case .array(let items): return items.contains(where: hasNonFinite)
    case .object(let members): return members.values.contains(where: hasNonFinite)
    default: return false
    }
}

private func checkJSON(_ frame: [UInt8]) {
    guard let json = try? JSON.parse(frame) else { return }
    if skipNonFinite && hasNonFinite(json) { return }
    let text = json.text
    guard let again = try? JSON.parse(text) else {
        fatalError("written JSON does not parse: \(text.debugDescription)")
    }
    if again != json { fatalError("JSON round trip changed \(json) into \(again) via \(text.debugDescription)") }
}

private func checkControlRequest(_ frame: [UInt8]) {
    let limits = BusLimits()
    let id: JSON?
    do {
        let request = try ControlRequest(frame: frame)
        id = request.id
        _ = try? request.string("op")
        _ = try? request.optionalString("policy")
        _ = try? request.table("table", limits: limits)
        _ = try? request.tables("tables", limits: limits)
        _ = try? request.rows("rows", limits: limits)
        // What the edge accepts (every field within its limit), the request
        // encoder writes back as the same command.
        if let command = try? ControlCommand(request, limits: limits) {
            let again = try? ControlCommand(try ControlRequest(frame: ControlRequest.frame(command, id: 0, client: "c")), limits: limits)
            if again != command { fatalError("command \(command) changed by encoding and decoding into \(String(describing: again))") }
        }
        _ = ControlReply.ok(id: id, ["echo": .object(request.body)])
    } catch {
        id = ControlRequest.bestEffortID(frame)
        let reply = ControlReply.error(id: id, error)
        do {
            _ = try ControlReply.parse(reply)
            fatalError("an error reply parsed as success")
        } catch where error.code == .badReply {
            fatalError("the error reply is not valid: \(String(decoding: reply, as: UTF8.self).debugDescription)")
        } catch {}
    }
}

private func checkDataMessage(_ frame: [UInt8]) {
    guard let message = try? DataMessage(decoding: frame) else { return }
    if skipNonFinite, let json = try? JSON.parse(frame.drop(while: { $0 != 0x20 }).dropFirst()), hasNonFinite(json) {
        return
    }
    let encoded = message.encoded()
    guard let again = try? DataMessage(decoding: encoded) else {
        fatalError("a re-encoded data message does not decode: \(String(decoding: encoded, as: UTF8.self).debugDescription)")
    }
    if again != message { fatalError("data message round trip changed \(message) into \(again)") }
}
