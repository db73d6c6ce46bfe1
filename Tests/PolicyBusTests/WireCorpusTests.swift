import Foundation
import PolicyBus
import PolicyEngine
import Testing
import TestSupport

/// The wire decoders against the `WireFuzz` regression corpus
/// (`Tests/Corpus/wire/`), and against seeded mutations of it in-process.
/// Invariants as in `Fuzz/Sources/WireFuzz`: accepted JSON survives a write
/// and a parse; a decoded data message survives re-encoding.
@Suite struct WireCorpusTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Corpus/wire")

    static func inputs() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test func corpusIsNotEmpty() {
        #expect(!Self.inputs().isEmpty, "the corpus folder moved or is empty")
    }

    @Test(arguments: WireCorpusTests.inputs())
    func corpusInput(_ name: String) throws {
        let bytes = Array(try Data(contentsOf: Self.folder.appendingPathComponent(name)))
        #expect(Self.brokenInvariant(bytes) == nil)
    }

    @Test func mutatedCorpusKeepsTheInvariants() throws {
        let seed = ProcessInfo.processInfo.environment["POLICYBUS_WIRE_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("WireCorpusTests seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let seeds = try Self.inputs().map { Array(try Data(contentsOf: Self.folder.appendingPathComponent($0))) }
        var fuzzer = ControlFuzzer(seed: seed)
        for _ in 0..<50_000 {
            var bytes = seeds.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...4, using: &random) { bytes = fuzzer.mutate(bytes) }
            if let broken = Self.brokenInvariant(bytes) {
                Issue.record("seed \(seed): \(broken); input \(String(decoding: bytes, as: UTF8.self).debugDescription)")
                return
            }
        }
    }

    /// The corpus's `seed-oversized-*` requests each carry one field over its
    /// default limit: the edge refuses every one, with the field's code.
    @Test func oversizedSeedsAreRefusedAtTheEdge() throws {
        let names = Self.inputs().filter { $0.hasPrefix("seed-oversized-") }
        #expect(names.count >= 7)
        for name in names {
            let frame = Array(try Data(contentsOf: Self.folder.appendingPathComponent(name)))
            // The edge is the envelope (the client id) and then the command.
            let error = #expect(throws: BusError.self, "\(name)") {
                try ControlCommand(try ControlRequest(frame: frame, limits: BusLimits()), limits: BusLimits())
            }
            #expect(["too-large", "bad-table-name"].contains(error?.code.rawValue ?? ""), "\(name): \(String(describing: error))")
        }
    }

    /// What went wrong with `frame`, or nil.
    static func brokenInvariant(_ frame: [UInt8]) -> String? {
        if let request = try? ControlRequest(frame: frame), let command = try? ControlCommand(request, limits: BusLimits()) {
            // What the edge accepts, the one request encoder writes back as the same command.
            let again = try? ControlCommand(try ControlRequest(frame: ControlRequest.frame(command, id: 0, client: "c")), limits: BusLimits())
            if again != command { return "command changed by encoding and decoding: \(command) became \(String(describing: again))" }
        }
        _ = ControlRequest.bestEffortID(frame)
        _ = try? ControlReply.parse(frame)
        if let json = try? JSON.parse(frame) {
            var writer = JSONWriter()
            writer.json(json)
            let again = try? JSON.parse(writer.bytes)
            if again != json { return "JSON changed by a write and a parse: \(String(decoding: writer.bytes, as: UTF8.self))" }
        }
        if let message = try? DataMessage(decoding: frame) {
            let again = try? DataMessage(decoding: message.encoded())
            if again != message { return "data message changed by re-encoding: \(String(decoding: message.encoded(), as: UTF8.self))" }
        }
        return nil
    }
}
