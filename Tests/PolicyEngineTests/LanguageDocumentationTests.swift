import PolicyEngine
import Testing

/// The examples in docs/LANGUAGE.md, so that the document stays true.
@Suite struct LanguageDocumentationTests {
    @Test(arguments: [
        "error(vm) :- nova:servers(vm, host), not allowed(host)\nallowed(\"h1\")\nallowed(\"h2\")",
        "ready :- up, not down\nup",
        "ok(x) :- host(x), not banned(x, _)",
        "ok(x) :- host(x), NOT banned(x)\nok(x) :- host(x), !banned(x)",
        "small(x) :- size(x, n), n < 10, n <= 10, n > 0, n >= 1, n != 3, m = n * 2, m > 0",
        "next(x, y + 1) :- cur(x, y)\nscaled(x, (y + 1) * 2) :- cur(x, y)\nover(x) :- cur(x, y), limit(x, y * 2)\nneg(x, -y) :- cur(x, y)",
        "path(x, y) :- edge(x, y)\npath(x, z) :- path(x, y), edge(y, z)",
        "h(z) :- z = y + 1, y = x * 2, p(x)",
        "plus(1, 2, 3)\nh(z) :- p(x, y), plus(x, y, z)\ng(z) :- p(x, y), builtin:plus(x, y, z)",
        """
        b(z) :- p(x, y), lt(x, y), lteq(x, y), gt(x, y), gteq(x, y), equal(x, y), plus(x, y, z)
        c(z) :- p(x, y), minus(x, y, a), mul(x, y, b), div(x, y, c), max(a, b, z), float(c, f), int(f, i)
        d(n) :- s(a, b), concat(a, b, c), len(c, n)
        """,
    ])
    func examplesAreAccepted(_ text: String) throws {
        let program = try Language.check(text)
        #expect(!program.rules.isEmpty)
    }

    @Test func namedColumnExamplesAreAccepted() throws {
        let schemas = [Language.table("nova:servers"): ["id", "host", "status"]]
        let program = try Language.check(
            """
            active(vm) :- nova:servers(id=vm, status="ACTIVE")
            on_host(vm, h) :- nova:servers(vm, host=h)
            """, schemas: schemas)
        let spelled = try Language.check(#"active(vm) :- nova:servers(vm, _, "ACTIVE")"#)
        #expect(program.rules[0].body == spelled.rules[0].body)
    }

    @Test func mutualRecursionExampleIsAccepted() throws {
        let program = try Language.check([
            "alice": "reach(x) :- bob:seen(x)",
            "bob": "seen(x) :- nova:start(x)\nseen(y) :- alice:reach(x), nova:link(x, y)",
        ])
        #expect(program.strata[Language.table("alice:reach")] == program.strata[Language.table("bob:seen")])
    }

    @Test func errorsPrintLikeACompilers() {
        let error = Language.error("h(x, y) :- p(x)")
        #expect(error?.description.hasPrefix("alice:1:6: error[unsafe-variable]: ") == true)
    }
}
