import PolicyEngine
import Testing

@testable import PolicyBus

/// The relay rewrites a reply's top-level `data` in place: only that
/// member, only at the top level, every other byte as the node wrote it.
@Suite struct TopLevelMemberTests {
    func rewrite(_ text: String) -> String? {
        TopLevelMember.replacingString("data", in: Array(text.utf8), with: "tcp://relay:1").map { String(decoding: $0.bytes, as: UTF8.self) }
    }

    @Test func theTopLevelStringIsReplacedAndTheRestKept() {
        #expect(rewrite(#"{"data":"tcp://n:2","epoch":"e"}"#) == #"{"data":"tcp://relay:1","epoch":"e"}"#)
        #expect(rewrite(#" { "id" : [1, {"data": "x"}], "s": "a\"}b", "data" : "tcp://n:2" , "tables":{"t":{"rows":[["data"]]}}}"#)
            == #" { "id" : [1, {"data": "x"}], "s": "a\"}b", "data" : "tcp://relay:1" , "tables":{"t":{"rows":[["data"]]}}}"#)
        let old = TopLevelMember.replacingString("data", in: Array(#"{"id":7,"data":"tcp://n:2"}"#.utf8), with: "x")?.old
        #expect(old == "tcp://n:2")
    }

    @Test(arguments: [
        #"{"id":1,"rows":[{"data":"tcp://n:2"}]}"#,  // nested only
        #"{"data":5}"#,  // not a string
        #"["data","tcp://n:2"]"#,  // not an object
        #"{"id":"unterminated, "data":"tcp://n:2"}"#,  // damaged before it
        #"{"ok":true,"error":{"code":"x"}}"#,
        "",
    ])
    func nothingElseIsTouched(_ text: String) {
        #expect(rewrite(text) == nil, "\(text)")
    }
}
