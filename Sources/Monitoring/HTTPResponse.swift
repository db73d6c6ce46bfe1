/// A whole HTTP/1.1 response; the connection closes after it.
public struct HTTPResponse: Hashable, Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// Extra header lines, without the line ends.
    public var headers: [String] = []

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8], headers: [String] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// A plain-text response whose body is `text` and a line end.
    public static func text(_ status: Int, _ text: String, headers: [String] = []) -> HTTPResponse {
        HTTPResponse(status: status, body: Array((text + "\n").utf8), headers: headers)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }

    /// The bytes on the wire; without the body for a HEAD request.
    func encoded(includingBody: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        for line in headers { head += line + "\r\n" }
        head += "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + (includingBody ? body : [])
    }
}
