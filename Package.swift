// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "PolicyBus",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "policybus", targets: ["policybus"]),
        .library(name: "PolicyEngine", targets: ["PolicyEngine"]),
        .library(name: "PolicyBus", targets: ["PolicyBus"]),
        .library(name: "ZeroMQ", targets: ["ZeroMQ"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // The Datalog language and the incremental engine. No ZeroMQ here.
        .target(name: "PolicyEngine"),

        // The wire protocol, the table publisher, the subscriber client and the nodes.
        .target(
            name: "PolicyBus",
            dependencies: [
                "PolicyEngine",
                "PolicyStore",
                "ZeroMQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The command-line tool: thin, one subcommand per file.
        .executableTarget(
            name: "policybus",
            dependencies: [
                "PolicyEngine",
                "PolicyBus",
                "PolicyStore",
                "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .testTarget(name: "PolicyEngineTests", dependencies: ["PolicyEngine"]),
        .testTarget(name: "PolicyBusTests", dependencies: ["PolicyBus", "PolicyEngine", "ZeroMQ", "policybus"]),

        // The durable log of rules and facts an engine accepted (fsync'd, checksummed).
        .target(name: "PolicyStore", dependencies: ["PolicyEngine"]),
        .testTarget(name: "PolicyStoreTests", dependencies: ["PolicyStore", "PolicyEngine", "ZeroMQ"]),

        // libzmq, seen only by the ZeroMQ wrapper.
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),
        // The safe Swift API over libzmq.
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        // PUB/SUB throughput through the wrapper against the same workload in C.
        .executableTarget(
            name: "ZMQBench",
            dependencies: ["ZeroMQ"],
            path: "Benchmarks/ZMQBench",
            exclude: ["README.md"]
        ),
        // Engine benchmarks: scripts/bench engine.
        .executableTarget(
            name: "EngineBench", dependencies: ["PolicyEngine"], path: "Benchmarks/EngineBench", exclude: ["README.md"]),
        // End-to-end bus latency, sustained rate, publish path vs raw libzmq.
        .executableTarget(
            name: "BusBench",
            dependencies: ["PolicyBus", "PolicyEngine", "ZeroMQ"],
            path: "Benchmarks/BusBench",
            exclude: ["README.md"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
