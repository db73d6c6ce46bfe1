import PolicyEngine

/// Builds reply frames.
public enum ControlReply {
    /// `{"ok":true,"id":ID,...fields}`
    public static func ok(id: JSON?, _ fields: [String: JSON] = [:]) -> [UInt8] {
        var members = fields
        members["ok"] = .bool(true)
        if let id { members["id"] = id }
        var writer = JSONWriter()
        writer.json(.object(members))
        return writer.bytes
    }

    /// `{"ok":false,"id":ID,"error":{"code":C,"message":M}}`
    public static func error(id: JSON?, _ error: BusError) -> [UInt8] {
        var members: [String: JSON] = [
            "ok": .bool(false),
            "error": .object(["code": .string(error.code.rawValue), "message": .string(error.message)]),
        ]
        if let id { members["id"] = id }
        var writer = JSONWriter()
        writer.json(.object(members))
        return writer.bytes
    }

    /// Reads a reply frame: its fields on success.
    /// - Throws: the node's error as a `BusError`, or `bad-reply`.
    public static func parse(_ frame: [UInt8]) throws(BusError) -> JSON {
        let json: JSON
        do { json = try JSON.parse(frame) } catch { throw BusError(.badReply, "reply is not JSON: \(error.message)") }
        switch json["ok"] {
        case .bool(true)?:
            return json
        case .bool(false)?:
            guard let code = json["error"]?["code"]?.stringValue else { throw BusError(.badReply, "error reply without a code") }
            throw BusError(BusError.Code(rawValue: code), json["error"]?["message"]?.stringValue ?? "")
        default:
            throw BusError(.badReply, "reply without \"ok\"")
        }
    }
}
