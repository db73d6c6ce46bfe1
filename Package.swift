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
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
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
                "Monitoring",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
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
                "Monitoring",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // What every test target shares: the seeded generator of the property tests.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "PolicyEngineTests", dependencies: ["PolicyEngine", "TestSupport"]),
        .testTarget(
            name: "PolicyBusTests",
            dependencies: [
                "PolicyBus", "PolicyEngine", "PolicyStore", "ZeroMQ", "Monitoring", "policybus", "TestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),

        // The durable log of rules and facts an engine accepted (fsync'd, checksummed).
        .target(name: "PolicyStore", dependencies: ["PolicyEngine", .product(name: "CoreMetrics", package: "swift-metrics")]),
        .testTarget(name: "PolicyStoreTests", dependencies: ["PolicyStore", "PolicyEngine", "ZeroMQ", "TestSupport"]),

        // /metrics, /livez and /readyz: a small HTTP/1 listener on its own
        // thread, the health state a node's loop writes, and the node's
        // metrics, recorded through swift-metrics (the executable picks the
        // backend and hands the listener the Prometheus registry's text).
        .target(
            name: "Monitoring",
            dependencies: [
                "CMalloc", .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
            ]),
        // glibc's malloc.h (mallinfo2, malloc_trim), seen only by Monitoring's ProcessMemory.
        .systemLibrary(name: "CMalloc"),
        .testTarget(
            name: "MonitoringTests",
            dependencies: [
                "Monitoring", "TestSupport", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Logging", package: "swift-log"),
            ]),

        // libzmq, seen only by the ZeroMQ wrapper.
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),
        // The safe Swift API over libzmq.
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ", "TestSupport"]),
        // PUB/SUB throughput through the wrapper against the same workload in C.
        .executableTarget(
            name: "ZMQBench",
            dependencies: ["ZeroMQ"],
            path: "Benchmarks/ZMQBench",
            exclude: ["README.md"]
        ),
        // Engine benchmarks: scripts/bench engine.
        .executableTarget(
            name: "EngineBench", dependencies: ["PolicyEngine", "Monitoring"], path: "Benchmarks/EngineBench", exclude: ["README.md"]),
        // End-to-end bus latency, sustained rate, publish path vs raw libzmq.
        .executableTarget(
            name: "BusBench",
            dependencies: [
                "PolicyBus", "PolicyEngine", "ZeroMQ", "Monitoring", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Benchmarks/BusBench",
            exclude: ["README.md"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
