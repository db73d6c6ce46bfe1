import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A response as an independent HTTP client (URLSession, over libcurl on
/// Linux) saw it: what the monitoring tests and the process tests of
/// `--metrics` read.
public struct HTTPGot: Sendable {
    public var status: Int
    public var contentType: String?
    public var body: String
}

/// Sends `method path` to `http://address` and returns what came back.
public func httpGet(_ address: String, _ path: String, method: String = "GET") async throws -> HTTPGot {
    var request = URLRequest(url: URL(string: "http://\(address)\(path)")!)
    request.httpMethod = method
    request.timeoutInterval = 30
    let configuration = URLSessionConfiguration.ephemeral
    configuration.connectionProxyDictionary = [:]
    let session = URLSession(configuration: configuration)
    defer { session.finishTasksAndInvalidate() }
    let (data, response) = try await session.data(for: request)
    let http = response as! HTTPURLResponse
    return HTTPGot(status: http.statusCode, contentType: http.value(forHTTPHeaderField: "Content-Type"), body: String(decoding: data, as: UTF8.self))
}
