import Foundation
import PolicyBus
import PolicyEngine
import Testing

/// The wildcard data endpoint rule, against the vectors the Python client's
/// tests read too (`Tests/Corpus/endpoints/data-endpoint.json`).
@Suite struct DataEndpointTests {
    struct Vector: CustomTestStringConvertible, Sendable {
        var advertised, control, expected, why: String
        var testDescription: String { "\(advertised) via \(control)" }
    }

    static func vectors() throws -> [Vector] {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Corpus/endpoints/data-endpoint.json")
        let cases = try JSON.parse(Array(try Data(contentsOf: file)))["cases"]?.arrayValue ?? []
        return cases.map { entry in
            let field = { (key: String) in entry[key]?.stringValue ?? "" }
            return Vector(advertised: field("advertised"), control: field("control"), expected: field("expected"), why: field("why"))
        }
    }

    @Test func vectorsAreThere() throws {
        #expect(try Self.vectors().count > 10)
    }

    @Test(arguments: try DataEndpointTests.vectors())
    func resolvesAsTheSharedVectorsSay(_ vector: Vector) {
        #expect(DataEndpoint.resolve(vector.advertised, control: vector.control) == vector.expected, "\(vector.why)")
    }
}
