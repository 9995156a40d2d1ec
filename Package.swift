// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Sandcastle",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "DockerEngine", targets: ["DockerEngine"]),
        .library(name: "SessionStore", targets: ["SessionStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        // C libraries: each imported by exactly one wrapper target.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        .systemLibrary(
            name: "CCap",
            pkgConfig: "libcap",
            providers: [.apt(["libcap-dev"])]
        ),

        .target(
            name: "DockerEngine",
            dependencies: [
                "CCurl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DockerEngineTests",
            dependencies: ["DockerEngine"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DockerEngineIntegrationTests",
            dependencies: ["DockerEngine"]
        ),

        // Persistence of sessions and the event log. No Docker knowledge here.
        .target(
            name: "SessionStore",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SessionStoreTests",
            dependencies: [
                "SessionStore",
                // Tests open the file directly to hold locks and inspect pragmas.
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
