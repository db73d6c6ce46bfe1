// swift-tools-version: 6.1
// libFuzzer targets, in a package of their own: they link only when built with
// `-sanitize=fuzzer`, which would break the root package's `swift build` and
// `swift test`. See docs/FUZZING.md.
import PackageDescription

let package = Package(
    name: "PolicyBusFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "PolicyBus", path: ".."),
    ],
    targets: [
        // Policy text -> PolicyParser.parse -> ProgramChecker, and each rule's text back through the parser.
        .executableTarget(
            name: "ParserFuzz",
            dependencies: ["CFuzzerDriver", .product(name: "PolicyEngine", package: "PolicyBus")]
        ),
        // Control request frames, data message frames and JSON, as the bus decodes them.
        .executableTarget(
            name: "WireFuzz",
            dependencies: ["CFuzzerDriver", .product(name: "PolicyBus", package: "PolicyBus")]
        ),
        // Declares LLVMFuzzerRunDriver; libclang_rt.fuzzer defines it.
        .target(name: "CFuzzerDriver"),
    ],
    swiftLanguageModes: [.v6]
)
