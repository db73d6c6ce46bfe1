// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "PolicyBus",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "policybus", targets: ["policybus"]),
        .library(name: "PolicyEngine", targets: ["PolicyEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // The Datalog language and the incremental engine. No ZeroMQ here.
        .target(
            name: "PolicyEngine",
            swiftSettings: [
                // The engine's hot loops mutate class-held arrays; the dynamic
                // exclusivity checks cost ~13% of a bulk load (measured with perf).
                // Static checks still apply, and the engine is single-threaded.
                .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
            ]
        ),

        // The command-line tool: thin, one subcommand per file.
        .executableTarget(
            name: "policybus",
            dependencies: [
                "PolicyEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .testTarget(name: "PolicyEngineTests", dependencies: ["PolicyEngine"]),

        // Engine benchmarks: scripts/bench engine.
        .executableTarget(name: "EngineBench", dependencies: ["PolicyEngine"], path: "Benchmarks/EngineBench"),
    ],
    swiftLanguageModes: [.v6]
)
