import Foundation
import Testing

/// `policybus fmt`, the built binary.
@Suite(.serialized) struct FmtCommandTests {
    static let messy = "error(vm):-nova:servers(vm,host),!allowed(host).  # why\nallowed( \"h1\" )\n"
    static let canonical = "error(vm) :- nova:servers(vm, host), not allowed(host)  # why\nallowed(\"h1\")\n"

    @Test func printsCanonicalText() async throws {
        let directory = try temporaryDirectory(["p.pol": Self.messy])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try await runPolicybus(["fmt", directory + "/p.pol"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == Self.canonical)
        // Printing does not touch the file.
        #expect(try String(contentsOfFile: directory + "/p.pol", encoding: .utf8) == Self.messy)
    }

    @Test func checkListsFilesThatWouldChangeAndWriteRewritesThem() async throws {
        let directory = try temporaryDirectory(["messy.pol": Self.messy, "clean.pol": Self.canonical])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let messy = directory + "/messy.pol", clean = directory + "/clean.pol"

        let check = try await runPolicybus(["fmt", "--check", messy, clean])
        #expect(check.status == 1)
        #expect(check.stdout == messy + "\n")

        let write = try await runPolicybus(["fmt", "-w", messy, clean])
        #expect(write.status == 0, "\(write.stderr)")
        #expect(try String(contentsOfFile: messy, encoding: .utf8) == Self.canonical)

        let again = try await runPolicybus(["fmt", "--check", messy, clean])
        #expect(again.status == 0, "\(again.stdout)")
        #expect(again.stdout.isEmpty)
    }

    @Test func aSyntaxErrorIsReportedAtTheFileAndTheOtherFilesAreStillFormatted() async throws {
        let bad = "ok(1)\nh(x) :- p(x) q(x)\ng(x) :- p(x\n"
        let directory = try temporaryDirectory(["bad.pol": bad, "good.pol": Self.messy])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try await runPolicybus(["fmt", "-w", directory + "/bad.pol", directory + "/good.pol"])
        #expect(run.status == 1)
        // Every syntax error of the file, in line order.
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 2, "\(run.stderr)")
        #expect(lines.first?.hasPrefix("\(directory)/bad.pol:2:14: error[syntax-error]:") == true, "\(run.stderr)")
        #expect(lines.last?.hasPrefix("\(directory)/bad.pol:4:1: error[syntax-error]:") == true, "\(run.stderr)")
        #expect(try String(contentsOfFile: directory + "/good.pol", encoding: .utf8) == Self.canonical)
        #expect(try String(contentsOfFile: directory + "/bad.pol", encoding: .utf8) == bad)

        let missing = try await runPolicybus(["fmt", "/nonexistent/p.pol"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("error[unreadable-file]"), "\(missing.stderr)")
        let none = try await runPolicybus(["fmt"])
        #expect(none.status == 64)
    }

    @Test func theExamplesAreInCanonicalForm() async throws {
        let examples = BusProcess.binary.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples").path
        let run = try await runPolicybus(["fmt", "--check", examples + "/compliance.policy", examples + "/alerts.policy"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
    }
}
