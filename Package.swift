// swift-tools-version:6.2
import PackageDescription

/// Release builds on Linux link the Swift standard library and Foundation statically (what
/// `--static-swift-stdlib` does, on by default here): a `deltasync` process then maps 8 shared
/// objects instead of 22, and its start-up (about 18 ms of a no-change `push`, most of it the
/// dynamic loader binding symbols) halves. Modules are compiled with the flag too, so they
/// import the static Foundation, whose link lines name the libraries it needs.
/// `DELTASYNC_DYNAMIC_STDLIB=1` turns it off (scripts/fuzz.sh, whose sanitizer build links the
/// shared runtime).
let staticFlags: [String] = Context.environment["DELTASYNC_DYNAMIC_STDLIB"] == nil ? ["-static-stdlib"] : []
let staticStandardLibrary = (
    swift: SwiftSetting.unsafeFlags(staticFlags, .when(platforms: [.linux], configuration: .release)),
    linker: LinkerSetting.unsafeFlags(staticFlags, .when(platforms: [.linux], configuration: .release))
)

/// One settings array for every target: Swift 6 strict concurrency, the upcoming features the
/// house style asks for, and warnings as errors.
let settings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
    staticStandardLibrary.swift,
]

let package = Package(
    name: "deltasync",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "deltasync", targets: ["DeltaCLI"]),
        .executable(name: "deltasync-bench", targets: ["DeltaBench"]),
        .executable(name: "deltasync-fuzz", targets: ["DeltaFuzz"]),
        .library(name: "DeltaCore", targets: ["DeltaCore"]),
        .library(name: "DeltaServer", targets: ["DeltaServer"]),
        .library(name: "DeltaClient", targets: ["DeltaClient"]),
        .library(name: "DeltaGraph", targets: ["DeltaGraph"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "CDeltaSys",
            linkerSettings: [.linkedLibrary("z")]
        ),
        .target(
            name: "DeltaCore",
            dependencies: [
                "CDeltaSys",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "DeltaServer",
            dependencies: [
                "DeltaCore",
                "DeltaGraph",
                "CDeltaSys",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "DeltaClient",
            dependencies: [
                "DeltaCore",
                "CDeltaSys",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "DeltaGraph",
            swiftSettings: settings
        ),
        .executableTarget(
            name: "DeltaCLI",
            dependencies: [
                "CDeltaSys",
                "DeltaCore",
                "DeltaServer",
                "DeltaClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings,
            linkerSettings: [staticStandardLibrary.linker]
        ),
        .executableTarget(
            name: "DeltaBench",
            dependencies: [
                "DeltaCore",
                "DeltaServer",
                "DeltaClient",
                "DeltaTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings,
            linkerSettings: [staticStandardLibrary.linker]
        ),
        // The bundle reader's fuzz target: a corpus replayer in a normal build, a libFuzzer
        // target with `-DDELTASYNC_LIBFUZZER -sanitize=fuzzer` (see scripts/fuzz.sh).
        .executableTarget(
            name: "DeltaFuzz",
            dependencies: ["DeltaCore"],
            swiftSettings: settings,
            linkerSettings: [staticStandardLibrary.linker]
        ),
        .target(
            name: "DeltaTestSupport",
            dependencies: [
                "CDeltaSys",
                "DeltaCore",
                "DeltaServer",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "DeltaCoreTests",
            dependencies: ["DeltaCore", "DeltaTestSupport"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "DeltaClientTests",
            dependencies: [
                "DeltaCore",
                "DeltaTestSupport",
                "DeltaClient",
                "DeltaServer",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "DeltaGraphTests",
            dependencies: ["DeltaGraph", "DeltaTestSupport"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "DeltaServerTests",
            dependencies: [
                "DeltaCore",
                "DeltaGraph",
                "DeltaTestSupport",
                "DeltaServer",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // `sqlite3_db_status`: how much the writer's page cache holds (`PageCacheTests`).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                // The oracle the upload's own multipart scanner is held to.
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
    ]
)
