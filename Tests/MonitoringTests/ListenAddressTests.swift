@testable import Monitoring
import Testing

@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:9100", "127.0.0.1", 9100), ("0.0.0.0:*", "0.0.0.0", 0), ("localhost:1", "localhost", 1),
        ("[::1]:65535", "::1", 65535),
    ])
    func parses(text: String, host: String, port: Int) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host && address.port == port)
    }

    @Test(arguments: ["127.0.0.1", ":9100", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:-5", "h:99999", "h:9x", "::1:80", "tcp://h:1"])
    func refuses(text: String) {
        let error = #expect(throws: MonitoringError.self) { try ListenAddress(parsing: text) }
        #expect(error?.code == .badAddress)
        #expect(error?.message.contains(text) == true)
    }

    @Test func aTakenPortIsBindFailed() throws {
        let first = try HTTPListener(address: ListenAddress(parsing: "127.0.0.1:*")) { _ in .text(200, "") }
        defer { first.stop() }
        let error = #expect(throws: MonitoringError.self) { try HTTPListener(address: first.address) { _ in .text(200, "") } }
        #expect(error?.code == .bindFailed)
    }

    @Test(arguments: ["GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD /readyz?verbose HTTP/1.0\r\n\r\n"])
    func parsesRequestLines(text: String) throws {
        let head = try #require(HTTPRequestHead(parsing: Array(text.utf8)))
        #expect(["GET", "HEAD"].contains(head.method))
        #expect(!head.path.contains("?") && head.path.hasPrefix("/"))
        #expect(HTTPRequestHead.isComplete(Array(text.utf8)))
    }

    @Test(arguments: ["", "GET\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics SPDY/3\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n"])
    func refusesOtherLines(text: String) {
        #expect(HTTPRequestHead(parsing: Array(text.utf8)) == nil)
    }
}
